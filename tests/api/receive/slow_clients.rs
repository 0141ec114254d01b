//! Slow clients (SPEC §7, issue 11): a body sent slower than the minimum rate is answered 408
//! and its connection closed; many such connections do not stop a normal request; with a
//! connection cap, held connections queue the next one until the 408s free their places.
//!
//! Raw TCP from the test. Every wait is bounded (`BOUND`): without the deadline the server
//! would hold these connections for as long as the client liked, and the test fails there.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{fresh_database, test_settings, Backend, TestApp};

/// Far above the 5 s rate window in which a stalled body is cut.
const BOUND: Duration = Duration::from_secs(40);

fn host_port(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

/// Opens a connection and sends a request head announcing 1,000 bytes, then `first` of them.
async fn slow_request(addr: &str, path: &str, extra_headers: &str, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first).await.unwrap();
    s
}

/// Reads until the server closes the connection (bounded); returns what it sent.
async fn answer_then_close(mut s: TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut buf))
        .await
        .expect("the server neither answered nor closed the slow connection")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

fn assert_408_closed(text: &str, what: &str) {
    assert!(text.starts_with("HTTP/1.1 408"), "{what}: {text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{what}: {text}"
    );
    assert!(text.contains("\"request_timeout\""), "{what}: {text}");
}

async fn slow_bodies_get_408_and_do_not_stop_others(app: TestApp) {
    let addr = host_port(&app);
    let mut held = Vec::new();
    for i in 0..40 {
        let (path, auth) = if i % 2 == 0 {
            ("/hooks/hk_nothere", String::new())
        } else {
            (
                "/api/v1/projects",
                format!("Authorization: Bearer {}\r\n", app.admin_token),
            )
        };
        held.push(slow_request(&addr, path, &auth, b"{").await);
    }
    // One that trickles a byte a second rather than stalling.
    let mut trickle = slow_request(&addr, "/hooks/hk_nothere", "", b"{").await;
    // A normal request is answered while those are held.
    let (s, _) = app.get("/api/v1/projects", &app.admin_token).await;
    assert_eq!(s, 200);
    let resp = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let trickled = async {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        for _ in 0..BOUND.as_secs() {
            // Writes fail once the server has closed; keep reading what it sent.
            let _ = trickle.write_all(b" ").await;
            match tokio::time::timeout(Duration::from_secs(1), trickle.read(&mut buf)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let (answers, trickled) = tokio::join!(
        futures_util::future::join_all(held.into_iter().map(answer_then_close)),
        trickled
    );
    for (i, text) in answers.iter().enumerate() {
        assert_408_closed(text, &format!("held connection {i}"));
    }
    assert_408_closed(&trickled, "trickle");
}

/// With `HOOKGATE_MAX_CONNECTIONS` at one a worker thread, as many held connections fill every
/// place: the next request is answered only after they are cut (408) and closed.
async fn the_connection_cap_holds_and_408s_free_places(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let key = hookgate::crypto::MasterKey::generate().to_base64();
    let mut settings = test_settings(&url, &key);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    settings.max_connections = threads;
    let app = hookgate::startup::Application::build(settings, false)
        .await
        .expect("build app");
    let addr = format!("127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // Taken before the first held head is written: no held connection can be cut, and so no
    // place freed, before `RATE_WINDOW` after this.
    let opened = std::time::Instant::now();
    let mut held = Vec::new();
    for _ in 0..threads {
        held.push(slow_request(&addr, "/hooks/hk_nothere", "", b"{").await);
        // Let the accept loop hand it to a worker before the next one.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cut = futures_util::future::join_all(
        held.into_iter()
            .map(|s| async move { assert_408_closed(&answer_then_close(s).await, "held") }),
    );
    let normal = {
        let addr = addr.clone();
        async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let text = answer_then_close(s).await;
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            opened.elapsed()
        }
    };
    let ((), answered_after) = tokio::join!(
        async {
            cut.await;
        },
        normal
    );
    // A lower bound only (a loaded machine makes it later, never earlier): the normal request
    // could not be served while every place was held, and the first place frees at the cut.
    assert!(
        answered_after >= hookgate::body_deadline::RATE_WINDOW,
        "the cap let a connection past the held ones: answered after {answered_after:?}"
    );
}

crate::on_both_backends!(slow_bodies_get_408_and_do_not_stop_others);

mod cap {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::the_connection_cap_holds_and_408s_free_places(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::the_connection_cap_holds_and_408s_free_places(crate::helpers::Backend::Postgres)
            .await;
    }
}
