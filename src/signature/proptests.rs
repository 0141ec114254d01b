//! Hostile input: whatever a sender puts in headers and body, verification neither panics
//! nor succeeds without the secret.

use proptest::prelude::*;

use super::*;

const SECRETS: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "s3cr3t-for-tests-0123456789abcdef",
];

/// Header values that look like real ones often enough to reach the deeper parsing paths.
fn header_value() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("sha256=".to_string()),
        Just("sha1=".to_string()),
        Just("v0=".to_string()),
        Just("v1=".to_string()),
        Just("v1,".to_string()),
        Just("t=1717171717,".to_string()),
        Just("ts=1717171717;h1=".to_string()),
        Just("1717171717".to_string()),
        "[0-9a-fA-F]{0,130}",
        "[A-Za-z0-9+/=]{0,90}",
        ".{0,40}",
        "[ ,;=]{0,4}",
    ];
    prop::collection::vec(fragment, 0..5).prop_map(|parts| parts.concat())
}

fn any_config() -> impl Strategy<Value = VerifyConfig> {
    (
        prop::sample::select(Provider::ALL),
        prop::option::of("[A-Za-z-]{0,20}"),
        prop::sample::select(vec![Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]),
        prop::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(
            |(provider, header_name, algorithm, tolerance_secs, accept_legacy_sha1)| VerifyConfig {
                provider,
                header_name,
                algorithm,
                tolerance_secs,
                accept_legacy_sha1,
            },
        )
}

proptest! {
    #[test]
    fn random_requests_never_panic_and_never_verify(
        cfg in any_config(),
        values in prop::collection::vec(prop::option::of(header_value()), 8),
        body in prop::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        // Every header name maps to one of the generated values, so all schemes see input.
        let header = |name: &str| {
            let i = name.bytes().fold(0usize, |a, b| a.wrapping_add(b as usize)) % values.len();
            values[i].clone()
        };
        prop_assert!(verify(&cfg, &SECRETS, &header, &body, now).is_err());
        prop_assert!(verify(&cfg, &[], &header, &body, now).is_err());
        // Signing must not panic either, whatever the clock and secret.
        let _ = sign(&cfg, values[0].as_deref().unwrap_or(""), &body, now, Some("d"), Some("e"));
    }
}
