//! Published test vectors, and what each scheme accepts beyond the common properties.

use super::*;

#[test]
fn generic_round_trips_with_every_algorithm_and_a_custom_header() {
    for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let c = VerifyConfig {
            header_name: Some("X-Signature".into()),
            algorithm: alg,
            ..cfg(Provider::Generic)
        };
        let headers = sign(&c, "k", BODY, NOW, None, None);
        assert_eq!(headers[0].0, "X-Signature");
        assert_eq!(run(&c, &["k"], &headers, BODY, NOW), Ok(0), "{alg:?}");
        let other = VerifyConfig {
            algorithm: Algorithm::Sha256,
            ..c.clone()
        };
        if alg != Algorithm::Sha256 {
            // The sender cannot choose the hash: a prefix naming another one is refused.
            assert!(matches!(
                run(&other, &["k"], &headers, BODY, NOW),
                Err(VerifyError::MalformedSignature(_))
            ));
        }
    }
}

#[test]
fn github_published_vector() {
    let headers = owned(&[(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    let c = cfg(Provider::Github);
    assert_eq!(
        run(
            &c,
            &["It's a Secret to Everybody"],
            &headers,
            b"Hello, World!",
            NOW
        ),
        Ok(0)
    );
    let signed = sign(
        &c,
        "It's a Secret to Everybody",
        b"Hello, World!",
        NOW,
        None,
        None,
    );
    assert_eq!(
        lookup(&signed)("x-hub-signature-256"),
        Some(headers[0].1.clone())
    );
}

#[test]
fn standard_webhooks_published_vector() {
    let headers = owned(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ]);
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let c = cfg(Provider::StandardWebhooks);
    assert_eq!(run(&c, &[secret], &headers, body, 1649367553), Ok(0));
    // The prefix is optional.
    assert_eq!(
        run(
            &c,
            &["C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
            &headers,
            body,
            1649367553
        ),
        Ok(0)
    );
    // Signed at that time, the vector is far in the past now.
    assert_eq!(
        run(&c, &[secret], &headers, body, NOW),
        Err(VerifyError::StaleTimestamp)
    );
}

#[test]
fn slack_published_vector() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let headers = owned(&[
        ("X-Slack-Request-Timestamp", "1531420618"),
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    assert_eq!(
        run(
            &cfg(Provider::Slack),
            &[secret],
            &headers,
            body.as_bytes(),
            1531420618
        ),
        Ok(0)
    );
}

#[test]
fn rfc4231_case_2_through_generic_in_any_hex_case_and_with_or_without_prefix() {
    let mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let c = VerifyConfig {
        header_name: Some("x-signature".into()),
        ..cfg(Provider::Generic)
    };
    let body = b"what do ya want for nothing?";
    for value in [
        mac.to_string(),
        mac.to_uppercase(),
        format!("sha256={mac}"),
        format!("SHA256={}", mac.to_uppercase()),
    ] {
        let headers = owned(&[("X-Signature", &value)]);
        assert_eq!(run(&c, &["Jefe"], &headers, body, NOW), Ok(0), "{value}");
    }
}

#[test]
fn gitlab_signing_token_mode_uses_standard_webhooks() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let c = cfg(Provider::Gitlab);
    let headers = sign(&c, secret, BODY, NOW, Some("6f0c5e3e"), Some("Push Hook"));
    assert!(lookup(&headers)("webhook-signature").is_some());
    assert!(lookup(&headers)("x-gitlab-token").is_none());
    assert_eq!(run(&c, &[secret], &headers, BODY, NOW), Ok(0));
    assert_eq!(
        run(&c, &[secret], &headers, b"{}", NOW),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        run(&c, &[secret], &headers, BODY, NOW + 301),
        Err(VerifyError::StaleTimestamp)
    );
    // A plain token secret cannot check a Standard Webhooks signature.
    assert_eq!(
        run(&c, &["not base64!"], &headers, BODY, NOW),
        Err(VerifyError::BadSecret)
    );
}

#[test]
fn github_legacy_sha1_only_when_configured_and_never_over_sha256() {
    let secret = "It's a Secret to Everybody";
    let signed = sign(&cfg(Provider::Github), secret, BODY, NOW, None, None);
    let sha1_only: Vec<_> = signed
        .iter()
        .filter(|(n, _)| n == "x-hub-signature")
        .cloned()
        .collect();
    let legacy = VerifyConfig {
        accept_legacy_sha1: true,
        ..cfg(Provider::Github)
    };
    assert_eq!(run(&legacy, &[secret], &sha1_only, BODY, NOW), Ok(0));
    assert_eq!(
        run(&cfg(Provider::Github), &[secret], &sha1_only, BODY, NOW),
        Err(VerifyError::MissingSignature("x-hub-signature-256".into()))
    );
    // A good SHA-1 does not rescue a bad SHA-256.
    let mut both = signed.clone();
    tamper_signature(Provider::Github, &mut both);
    assert_eq!(
        run(&legacy, &[secret], &both, BODY, NOW),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn stripe_accepts_any_v1_and_ignores_v0() {
    let secret = secret_for(Provider::Stripe);
    let c = cfg(Provider::Stripe);
    let signed = sign(&c, secret, BODY, NOW, None, None);
    let good = lookup(&signed)("stripe-signature").unwrap();
    let mac = good.split("v1=").nth(1).unwrap().to_string();
    let wrong = "0".repeat(64);
    let t = format!("t={NOW}");
    for value in [
        format!("{t},v1={wrong},v1={mac}"),
        format!("{t}, v1={mac}, v0={wrong}"),
        format!("{t},v1=short,v1={mac}"),
    ] {
        assert_eq!(
            run(
                &c,
                &[secret],
                &owned(&[("Stripe-Signature", &value)]),
                BODY,
                NOW
            ),
            Ok(0),
            "{value}"
        );
    }
    // The right MAC under v0 does not count.
    let v0 = format!("{t},v0={mac},v1={wrong}");
    assert_eq!(
        run(
            &c,
            &[secret],
            &owned(&[("stripe-signature", &v0)]),
            BODY,
            NOW
        ),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn standard_webhooks_accepts_any_v1_in_the_list_and_reports_a_bad_secret() {
    let secret = secret_for(Provider::StandardWebhooks);
    let c = cfg(Provider::StandardWebhooks);
    let mut headers = sign(&c, secret, BODY, NOW, Some("msg_1"), None);
    let (_, value) = headers
        .iter_mut()
        .find(|(n, _)| n == "webhook-signature")
        .unwrap();
    let good = value.clone();
    *value = format!("v1a,AAAA v1,{} {good}", "A".repeat(43) + "=");
    assert_eq!(run(&c, &[secret], &headers, BODY, NOW), Ok(0));
    assert_eq!(
        run(&c, &["whsec_not*base64"], &headers, BODY, NOW),
        Err(VerifyError::BadSecret)
    );
    // A broken stored secret does not stop the other one from verifying.
    assert_eq!(
        run(&c, &["whsec_not*base64", secret], &headers, BODY, NOW),
        Ok(1)
    );
}

/// The project's own payloads (`fixtures/`), signed and verified as raw bytes, and carrying
/// the body fields their preset reads the delivery id and event from.
#[test]
fn project_fixtures_verify_and_carry_their_body_fields() {
    let fixtures: [(Provider, &[u8]); 10] = [
        (
            Provider::Gitlab,
            include_bytes!("../../../fixtures/gitlab/push.json"),
        ),
        (
            Provider::Gitlab,
            include_bytes!("../../../fixtures/gitlab/merge_request.json"),
        ),
        (
            Provider::Bitbucket,
            include_bytes!("../../../fixtures/bitbucket/repo_push.json"),
        ),
        (
            Provider::Gitea,
            include_bytes!("../../../fixtures/gitea/push.json"),
        ),
        (
            Provider::Stripe,
            include_bytes!("../../../fixtures/stripe/payment_intent.succeeded.json"),
        ),
        (
            Provider::Shopify,
            include_bytes!("../../../fixtures/shopify/orders_create.json"),
        ),
        (
            Provider::Slack,
            include_bytes!("../../../fixtures/slack/event_callback.json"),
        ),
        (
            Provider::Paddle,
            include_bytes!("../../../fixtures/paddle/transaction.completed.json"),
        ),
        (
            Provider::StandardWebhooks,
            include_bytes!("../../../fixtures/standard-webhooks/invoice.paid.json"),
        ),
        (
            Provider::Generic,
            include_bytes!("../../../fixtures/generic/deploy.json"),
        ),
    ];
    for (p, body) in fixtures {
        let json: serde_json::Value = serde_json::from_slice(body).expect("fixture is JSON");
        for source in [p.delivery_id_source(), p.event_source()] {
            if let Source::Body(field) = source {
                assert!(json[field].is_string(), "{p}: body field {field}");
            }
        }
        let headers = sign(&cfg(p), secret_for(p), body, NOW, Some("d-1"), Some("e"));
        assert_eq!(
            run(&cfg(p), &[secret_for(p)], &headers, body, NOW),
            Ok(0),
            "{p}"
        );
    }
}
