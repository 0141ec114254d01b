use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const OPEN: TargetGuard = TargetGuard {
    allow_private: true,
};

/// A one-response-per-connection HTTP/1.1 server on loopback.
struct Canned {
    port: u16,
    /// Every request as received (head and body).
    requests: mpsc::UnboundedReceiver<String>,
    connections: Arc<AtomicUsize>,
}

/// Serves `response` to every connection; with `stall`, reads the request and never answers.
async fn serve(response: &str, stall: bool) -> Canned {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, requests) = mpsc::unbounded_channel();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let response = response.to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let request = read_request(&mut socket).await;
                let _ = tx.send(request);
                if stall {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Canned {
        port,
        requests,
        connections,
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

fn response(status_line: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn spec(url: String) -> HttpSpec {
    HttpSpec {
        method: "POST".into(),
        url,
        headers: Vec::new(),
        body: None,
        expect_status: None,
        timeout: Duration::from_secs(10),
    }
}

async fn run(spec: &HttpSpec, guard: TargetGuard) -> (StepOutcome, String) {
    let mut log = StepLog::new(StepLog::DEFAULT_CAP, vec!["sekrit-token".into()]);
    let outcome = run_http(spec, &guard, &CancellationToken::new(), &mut log).await;
    (outcome, log.text())
}

#[tokio::test]
async fn json_body_and_headers_arrive_and_200_succeeds() {
    let mut server = serve(&response("200 OK", "", "{\"queued\":true}"), false).await;
    let mut s = spec(format!("http://127.0.0.1:{}/dispatch", server.port));
    s.headers = vec![
        ("Authorization".into(), "Bearer sekrit-token".into()),
        ("X-Env".into(), "prod".into()),
    ];
    s.body = Some(serde_json::json!({ "ref": "main", "inputs": { "pr": 42 } }));
    let (outcome, log) = run(&s, OPEN).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: None });

    let request = server.requests.recv().await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /dispatch HTTP/1.1\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("authorization: bearer sekrit-token"),
        "{head}"
    );
    assert!(head.contains("x-env: prod"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let sent: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({ "ref": "main", "inputs": { "pr": 42 } })
    );

    assert!(log.contains("HTTP 200\n"), "{log}");
    assert!(log.contains("{\"queued\":true}"), "{log}");
}

#[tokio::test]
async fn a_500_fails() {
    let server = serve(&response("500 Internal Server Error", "", "boom"), false).await;
    let (outcome, log) = run(&spec(format!("http://127.0.0.1:{}/", server.port)), OPEN).await;
    assert_eq!(
        outcome,
        StepOutcome::Failed {
            exit_code: None,
            reason: "HTTP 500, expected 2xx".into()
        }
    );
    assert!(log.contains("HTTP 500\nboom"), "{log}");
}

#[tokio::test]
async fn expect_status_decides() {
    let server = serve(&response("201 Created", "", ""), false).await;
    let mut s = spec(format!("http://127.0.0.1:{}/", server.port));
    s.expect_status = Some(201);
    assert_eq!(
        run(&s, OPEN).await.0,
        StepOutcome::Succeeded { exit_code: None }
    );
    s.expect_status = Some(204);
    assert!(matches!(
        run(&s, OPEN).await.0,
        StepOutcome::Failed { reason, .. } if reason == "HTTP 201, expected 204"
    ));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = serve(&response("200 OK", "", "you followed"), false).await;
    let location = format!("Location: http://127.0.0.1:{}/elsewhere\r\n", target.port);
    let server = serve(&response("302 Found", &location, ""), false).await;
    let (outcome, log) = run(&spec(format!("http://127.0.0.1:{}/", server.port)), OPEN).await;
    assert!(matches!(outcome, StepOutcome::Failed { .. }), "{outcome:?}");
    assert!(log.contains("HTTP 302\n"), "{log}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(target.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn only_the_first_kib_of_the_body_is_logged() {
    let big = "x".repeat(5000);
    let server = serve(&response("200 OK", "", &big), false).await;
    let (outcome, log) = run(&spec(format!("http://127.0.0.1:{}/", server.port)), OPEN).await;
    assert_eq!(outcome, StepOutcome::Succeeded { exit_code: None });
    assert!(log.contains(&"x".repeat(1024)), "{log}");
    assert!(!log.contains(&"x".repeat(1025)), "{log}");
    assert!(log.contains("body truncated at 1024 bytes"), "{log}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = serve(&response("200 OK", "", ""), true).await;
    let mut s = spec(format!("http://127.0.0.1:{}/", server.port));
    s.timeout = Duration::from_secs(1);
    let (outcome, log) = run(&s, OPEN).await;
    assert_eq!(outcome, StepOutcome::TimedOut, "{log}");
}

#[tokio::test]
async fn cancelling_stops_the_request() {
    let server = serve(&response("200 OK", "", ""), true).await;
    let s = spec(format!("http://127.0.0.1:{}/", server.port));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let connections = server.connections.clone();
    tokio::spawn(async move {
        // Cancel once the request is surely in flight.
        while connections.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        trigger.cancel();
    });
    let mut log = StepLog::new(StepLog::DEFAULT_CAP, vec![]);
    let outcome = run_http(&s, &OPEN, &cancel, &mut log).await;
    assert_eq!(outcome, StepOutcome::Cancelled);
}

#[tokio::test]
async fn with_the_guard_on_loopback_is_refused_and_never_connected() {
    let server = serve(&response("200 OK", "", ""), false).await;
    let guard = TargetGuard {
        allow_private: false,
    };
    for url in [
        format!("http://127.0.0.1:{}/", server.port),
        format!("https://127.0.0.1:{}/", server.port),
        format!("https://localhost:{}/", server.port),
    ] {
        let (outcome, log) = run(&spec(url.clone()), guard).await;
        match outcome {
            StepOutcome::Failed { reason, .. } => {
                assert!(reason.starts_with("target refused: "), "{url}: {reason}");
                assert!(log.contains(&reason), "{log}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_target_fails_with_a_reason() {
    // Bound then dropped: nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (outcome, _) = run(&spec(format!("http://127.0.0.1:{port}/")), OPEN).await;
    assert!(
        matches!(&outcome, StepOutcome::Failed { reason, .. } if reason.starts_with("request failed: ")),
        "{outcome:?}"
    );
}
