//! Properties every preset must have: round trips, tampering, staleness, rotation, hostile
//! headers. Published vectors and scheme details are in `tests/schemes.rs`.

use super::*;

mod schemes;

const NOW: i64 = 1_717_171_717;
const BODY: &[u8] = br#"{"id":"evt_1","type":"push","ref":"refs/heads/main"}"#;

/// A case-insensitive lookup over a list of headers, as the ingest handler provides.
fn lookup(headers: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

fn run(
    cfg: &VerifyConfig,
    secrets: &[&str],
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<usize, VerifyError> {
    verify(cfg, secrets, &lookup(headers), body, now)
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A secret in the provider's form, fixed so failures reproduce.
fn secret_for(p: Provider) -> &'static str {
    match p {
        Provider::StandardWebhooks => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        Provider::Stripe => "whsec_test_4eC39HqLyjWDarjtT1zdp7dc",
        _ => "s3cr3t-for-tests-0123456789abcdef",
    }
}

fn cfg(p: Provider) -> VerifyConfig {
    VerifyConfig::new(p)
}

/// Where the MAC (or token) starts in the provider's signature header.
fn signature_header(p: Provider) -> (&'static str, &'static str) {
    match p {
        Provider::Generic => (DEFAULT_GENERIC_HEADER, "sha256="),
        Provider::Github => ("x-hub-signature-256", "sha256="),
        Provider::Gitlab => ("x-gitlab-token", ""),
        Provider::Bitbucket => ("x-hub-signature", "sha256="),
        Provider::Gitea => ("x-gitea-signature", ""),
        Provider::Stripe => ("stripe-signature", "v1="),
        Provider::Shopify => ("x-shopify-hmac-sha256", ""),
        Provider::Slack => ("x-slack-signature", "v0="),
        Provider::Paddle => ("paddle-signature", "h1="),
        Provider::StandardWebhooks => ("webhook-signature", "v1,"),
    }
}

/// Changes one character at `pos` to another valid hex and base64 character.
fn flip_at(s: &str, pos: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

fn tamper_signature(p: Provider, headers: &mut [(String, String)]) {
    let (name, marker) = signature_header(p);
    let (_, value) = headers
        .iter_mut()
        .find(|(n, _)| n == name)
        .expect("signature header");
    let pos = value.find(marker).unwrap() + marker.len();
    *value = flip_at(value, pos);
}

#[test]
fn every_preset_round_trips() {
    for &p in Provider::ALL {
        let headers = sign(
            &cfg(p),
            secret_for(p),
            BODY,
            NOW,
            Some("dlv-1"),
            Some("push"),
        );
        assert_eq!(
            run(&cfg(p), &[secret_for(p)], &headers, BODY, NOW),
            Ok(0),
            "{p}"
        );
    }
}

#[test]
fn sign_adds_delivery_id_and_event_headers_where_the_provider_sends_them() {
    let headers = sign(
        &cfg(Provider::Github),
        "k",
        BODY,
        NOW,
        Some("d-1"),
        Some("push"),
    );
    let get = lookup(&headers);
    assert_eq!(get("X-GitHub-Delivery").as_deref(), Some("d-1"));
    assert_eq!(get("x-github-event").as_deref(), Some("push"));
    let sw = sign(
        &cfg(Provider::StandardWebhooks),
        secret_for(Provider::StandardWebhooks),
        BODY,
        NOW,
        Some("msg_1"),
        None,
    );
    assert_eq!(sw.iter().filter(|(n, _)| n == "webhook-id").count(), 1);
    assert_eq!(lookup(&sw)("webhook-id").as_deref(), Some("msg_1"));
}

#[test]
fn one_byte_changes_to_body_signature_or_secret_never_verify() {
    for &p in Provider::ALL {
        let secret = secret_for(p);
        let headers = sign(&cfg(p), secret, BODY, NOW, Some("dlv-1"), Some("push"));

        let mut body = BODY.to_vec();
        body[3] ^= 1;
        if p != Provider::Gitlab {
            // GitLab's token mode signs nothing: the token is the whole proof.
            assert_eq!(
                run(&cfg(p), &[secret], &headers, &body, NOW),
                Err(VerifyError::Mismatch),
                "{p} body"
            );
        }

        let mut bad = headers.clone();
        tamper_signature(p, &mut bad);
        assert_eq!(
            run(&cfg(p), &[secret], &bad, BODY, NOW),
            Err(VerifyError::Mismatch),
            "{p} signature"
        );

        let other = flip_at(secret, secret.find('_').map_or(0, |i| i + 1));
        assert_eq!(
            run(&cfg(p), &[&other], &headers, BODY, NOW),
            Err(VerifyError::Mismatch),
            "{p} secret"
        );
    }
}

#[test]
fn stale_timestamps_in_both_directions() {
    let timed = [
        Provider::Stripe,
        Provider::Slack,
        Provider::Paddle,
        Provider::StandardWebhooks,
    ];
    for p in timed {
        assert_eq!(p.default_tolerance_secs(), Some(300));
        let secret = secret_for(p);
        for (signed_at, expect) in [
            (NOW - 301, Err(VerifyError::StaleTimestamp)),
            (NOW + 301, Err(VerifyError::StaleTimestamp)),
            (NOW - 300, Ok(0)),
            (NOW + 300, Ok(0)),
        ] {
            let headers = sign(&cfg(p), secret, BODY, signed_at, Some("d"), None);
            assert_eq!(
                run(&cfg(p), &[secret], &headers, BODY, NOW),
                expect,
                "{p} {}",
                signed_at - NOW
            );
        }
        let strict = VerifyConfig {
            tolerance_secs: Some(10),
            ..cfg(p)
        };
        let headers = sign(&strict, secret, BODY, NOW - 11, Some("d"), None);
        assert_eq!(
            run(&strict, &[secret], &headers, BODY, NOW),
            Err(VerifyError::StaleTimestamp),
            "{p}"
        );
        assert_eq!(VerifyError::StaleTimestamp.code(), "stale_timestamp");
    }
    for p in [
        Provider::Generic,
        Provider::Github,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::Gitea,
        Provider::Shopify,
    ] {
        assert_eq!(p.default_tolerance_secs(), None, "{p}");
    }
}

#[test]
fn rotation_previous_secret_verifies_with_index_1() {
    for &p in Provider::ALL {
        let old = secret_for(p);
        let new = p.generate_secret();
        let signed_old = sign(&cfg(p), old, BODY, NOW, Some("d"), None);
        let signed_new = sign(&cfg(p), &new, BODY, NOW, Some("d"), None);
        assert_eq!(
            run(&cfg(p), &[&new, old], &signed_old, BODY, NOW),
            Ok(1),
            "{p}"
        );
        assert_eq!(
            run(&cfg(p), &[&new, old], &signed_new, BODY, NOW),
            Ok(0),
            "{p}"
        );
        assert_eq!(
            run(&cfg(p), &[&new], &signed_old, BODY, NOW),
            Err(VerifyError::Mismatch),
            "{p}"
        );
        assert_eq!(
            run(&cfg(p), &[], &signed_old, BODY, NOW),
            Err(VerifyError::Mismatch),
            "{p}"
        );
    }
}

#[test]
fn missing_and_malformed_headers() {
    for &p in Provider::ALL {
        let err = run(&cfg(p), &["k"], &[], BODY, NOW).unwrap_err();
        assert!(
            matches!(err, VerifyError::MissingSignature(_)),
            "{p}: {err:?}"
        );
        assert_eq!(err.code(), "invalid_signature");
    }
    let malformed = |p: Provider, pairs: &[(&str, &str)]| {
        let r = run(&cfg(p), &["k"], &owned(pairs), BODY, NOW);
        assert!(
            matches!(r, Err(VerifyError::MalformedSignature(_))),
            "{p} {pairs:?}: {r:?}"
        );
    };
    malformed(Provider::Github, &[("x-hub-signature-256", "757107ea")]);
    malformed(
        Provider::Github,
        &[(
            "x-hub-signature-256",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
        )],
    );
    malformed(Provider::Bitbucket, &[("x-hub-signature", "sha256=zz")]);
    malformed(Provider::Gitea, &[("x-gitea-signature", "sha256=00")]);
    malformed(
        Provider::Shopify,
        &[("x-shopify-hmac-sha256", "not base64 at all")],
    );
    malformed(Provider::Stripe, &[("stripe-signature", "t=12,v0=00")]);
    malformed(Provider::Stripe, &[("stripe-signature", "t=x1,v1=00")]);
    malformed(Provider::Paddle, &[("paddle-signature", "ts=12;h1=nothex")]);
    malformed(
        Provider::Slack,
        &[
            ("x-slack-signature", "v1=00"),
            ("x-slack-request-timestamp", "12"),
        ],
    );
    malformed(
        Provider::Slack,
        &[
            ("x-slack-signature", "v0=00"),
            ("x-slack-request-timestamp", "-12"),
        ],
    );
    let missing_ts = |p: Provider, pairs: &[(&str, &str)]| {
        let r = run(&cfg(p), &["k"], &owned(pairs), BODY, NOW);
        assert!(
            matches!(r, Err(VerifyError::MissingTimestamp(_))),
            "{p}: {r:?}"
        );
    };
    missing_ts(Provider::Stripe, &[("stripe-signature", "v1=00")]);
    missing_ts(Provider::Paddle, &[("paddle-signature", "h1=00")]);
    missing_ts(Provider::Slack, &[("x-slack-signature", "v0=00")]);
    missing_ts(
        Provider::StandardWebhooks,
        &[("webhook-signature", "v1,AA=="), ("webhook-id", "m")],
    );
    let huge = "a".repeat(100_000);
    malformed(Provider::Generic, &[(DEFAULT_GENERIC_HEADER, &huge)]);
}

#[test]
fn empty_secrets_never_verify() {
    for &p in Provider::ALL {
        let headers = sign(&cfg(p), "", BODY, NOW, Some("d"), None);
        let mut with_empty_token = headers.clone();
        with_empty_token.push(("x-gitlab-token".into(), String::new()));
        assert!(
            run(&cfg(p), &[""], &with_empty_token, BODY, NOW).is_err(),
            "{p}"
        );
    }
}

#[test]
fn errors_never_reveal_the_expected_mac_or_the_secret() {
    for &p in Provider::ALL {
        let secret = secret_for(p);
        let signed = sign(&cfg(p), secret, BODY, NOW, Some("d"), None);
        let mut bad = signed.clone();
        tamper_signature(p, &mut bad);
        let err = run(&cfg(p), &[secret], &bad, BODY, NOW).unwrap_err();
        let shown = format!("{err} {err:?}");
        let (name, _) = signature_header(p);
        let expected = lookup(&signed)(name).unwrap();
        assert!(
            !shown.contains(&expected) && !shown.contains(secret),
            "{p}: {shown}"
        );
    }
}

#[test]
fn provider_names_round_trip_through_parse_and_serde() {
    for &p in Provider::ALL {
        assert_eq!(Provider::parse(p.as_str()), Some(p));
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::json!(p.as_str())
        );
        assert!(p
            .signature_headers()
            .iter()
            .all(|h| *h == h.to_ascii_lowercase()));
    }
    assert_eq!(
        Provider::parse("Standard-Webhooks"),
        Some(Provider::StandardWebhooks)
    );
    assert_eq!(Provider::parse("svix"), None);
    assert_eq!(Algorithm::parse("SHA512"), Some(Algorithm::Sha512));
    assert_eq!(Algorithm::parse("md5"), None);
    let generic = VerifyConfig {
        header_name: Some("X-My-Sig".into()),
        ..cfg(Provider::Generic)
    };
    assert!(generic.redacted_headers().contains(&"x-my-sig".to_string()));
}

#[test]
fn generated_secrets_have_the_provider_form() {
    use base64::Engine;
    let sw = Provider::StandardWebhooks.generate_secret();
    let key = base64::engine::general_purpose::STANDARD
        .decode(sw.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);
    for &p in Provider::ALL {
        let s = p.generate_secret();
        assert!(s.len() >= 43, "{p}");
        assert_ne!(s, p.generate_secret());
    }
}
