use super::*;

const ON: TargetGuard = TargetGuard {
    allow_private: false,
};
const OFF: TargetGuard = TargetGuard {
    allow_private: true,
};

const REFUSED_IPS: &[&str] = &[
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::127.0.0.1",
    "::ffff:10.0.0.1",
    "169.254.169.254",
    "10.1.2.3",
    "100.64.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "0.0.0.0",
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.1",
    "240.0.0.1",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "fc00::1",
    "fd12::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
];

const ALLOWED_IPS: &[&str] = &[
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700::1",
    "2a00:1450::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
];

#[test]
fn check_ip_refuses_non_public_addresses() {
    for ip in REFUSED_IPS {
        let addr: IpAddr = ip.parse().unwrap();
        assert_eq!(
            ON.check_ip(addr),
            Err(GuardError::Forbidden(addr.to_string())),
            "{ip} should be refused"
        );
        assert_eq!(OFF.check_ip(addr), Ok(()), "{ip} with allow_private");
    }
}

#[test]
fn check_ip_allows_public_addresses() {
    for ip in ALLOWED_IPS {
        assert_eq!(ON.check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
    }
}

#[test]
fn check_url_judges_literal_ips_however_spelled() {
    for url in [
        "https://127.0.0.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://[::ffff:7f00:1]/",
        "https://[::1]:8443/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/",
    ] {
        match ON.check_url(url) {
            Err(GuardError::Forbidden(_)) => {}
            other => panic!("{url}: {other:?}"),
        }
        assert!(OFF.check_url(url).is_ok(), "{url} with allow_private");
    }
    assert_eq!(
        ON.check_url("https://2130706433/"),
        Err(GuardError::Forbidden("127.0.0.1".into()))
    );
}

#[test]
fn check_url_requires_https_unless_private_targets_are_allowed() {
    assert_eq!(
        ON.check_url("http://2130706433/"),
        Err(GuardError::Scheme("http".into()))
    );
    assert_eq!(
        ON.check_url("http://example.com/"),
        Err(GuardError::Scheme("http".into()))
    );
    assert_eq!(
        OFF.check_url("ftp://example.com/"),
        Err(GuardError::Scheme("ftp".into()))
    );
    assert_eq!(
        OFF.check_url("http://2130706433/").unwrap().host_str(),
        Some("127.0.0.1")
    );
    assert_eq!(
        OFF.check_url("http://0x7f000001/").unwrap().host_str(),
        Some("127.0.0.1")
    );
    assert!(ON.check_url("https://example.com/a?b=c").is_ok());
    assert!(ON.check_url("https://8.8.8.8/").is_ok());
    assert!(ON.check_url("https://[2606:4700::1]/").is_ok());
    assert!(matches!(
        ON.check_url("not a url"),
        Err(GuardError::InvalidUrl(_))
    ));
}

/// Canary: with the guard on, nothing reaches a listener on loopback, however it is addressed.
#[tokio::test]
async fn guard_on_never_connects_to_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    assert_eq!(
        ON.check_url(&format!("http://127.0.0.1:{port}/")),
        Err(GuardError::Scheme("http".into()))
    );
    assert_eq!(
        ON.check_url(&format!("https://127.0.0.1:{port}/")),
        Err(GuardError::Forbidden("127.0.0.1".into()))
    );

    // A name passes check_url; the resolver refuses it at connect time.
    let url = format!("https://localhost:{port}/");
    let url = ON
        .check_url(&url)
        .expect("names are judged at connect time");
    let err = ON
        .client(Duration::from_secs(5))
        .get(url)
        .send()
        .await
        .expect_err("localhost must be refused");
    assert!(
        matches!(refusal_in(&err), Some(GuardError::Forbidden(_))),
        "{err:?}"
    );

    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert_eq!(
        accepted.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the guard let a connection through"
    );
}

#[tokio::test]
async fn guard_off_does_connect_to_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = OFF.client(Duration::from_secs(5));
    // Through the resolver too: localhost may resolve to ::1 first, the connector tries all.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let url = OFF.check_url(&url).unwrap();
        let request = tokio::spawn(client.get(url).send());
        let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
        assert!(matches!(accepted, Ok(Ok(_))), "no connection arrived");
        request.abort();
    }
}

#[tokio::test]
async fn unresolvable_names_are_reported() {
    let err = ON
        .client(Duration::from_secs(5))
        .get("https://no-such-host.invalid/")
        .send()
        .await
        .expect_err("must not resolve");
    assert_eq!(
        refusal_in(&err),
        Some(&GuardError::Unresolvable("no-such-host.invalid".into()))
    );
}

#[test]
fn a_refused_url_is_not_repeated_in_the_error() {
    // A Slack webhook URL is itself a secret; the error reaches logs and stored attempts.
    let guard = TargetGuard {
        allow_private: false,
    };
    for url in [
        "https://hooks.slack.com:99999/services/T000/B000/SECRETxyz",
        "https://[::1/services/SECRETxyz",
    ] {
        let e = guard.check_url(url).unwrap_err();
        assert!(!e.to_string().contains("SECRETxyz"), "{e}");
    }
}
