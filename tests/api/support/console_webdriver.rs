//! A small W3C WebDriver client (chromedriver + Debian's chromium) for the console's browser
//! test: just the commands it uses, over the crate's own reqwest.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How many times a wait looks before giving up (each look 100 ms apart).
pub const LOOKS: usize = 600;

/// chromedriver and one headless chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

/// The browser binaries, or why they are absent.
pub fn binaries() -> Result<(String, String), String> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("/usr/bin/{n}"))
            .find(|p| std::path::Path::new(p).exists())
    };
    let chromium = find(&["chromium", "chromium-browser"]).ok_or("chromium is not installed")?;
    let driver = find(&["chromedriver"]).ok_or("chromium-driver is not installed")?;
    Ok((chromium, driver))
}

/// A free port in the console's range for chromedriver.
fn free_port() -> u16 {
    (18250..18300)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 18250-18299")
}

impl Browser {
    /// Starts chromedriver and a headless chromium at 1280x800.
    pub async fn start(chromium: &str, driver: &str) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            // Its own process group, so that chromium goes with it even when a test panics.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..LOOKS {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let mut b = Browser {
            driver: child,
            base,
            http,
        };
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--lang=en-US"] } } } });
        let v = b.cmd(reqwest::Method::POST, "/session", caps).await;
        let id = v["sessionId"].as_str().expect("a session id").to_string();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("webdriver request");
        let v: Value = resp.json().await.expect("webdriver answer");
        if v["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn try_cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Option<Value> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.ok()?;
        let v: Value = resp.json().await.ok()?;
        if v["value"]["error"].is_string() {
            None
        } else {
            Some(v["value"].clone())
        }
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element `css` selects, if there is one now.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .try_cmd(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        v[ELEMENT].as_str().map(str::to_string)
    }

    /// Waits (bounded) for `css` to select an element.
    pub async fn wait_for(&self, css: &str) -> String {
        for _ in 0..LOOKS {
            if let Some(e) = self.find(css).await {
                return e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{css} never appeared on {}", self.url().await);
    }

    pub async fn click(&self, css: &str) {
        let e = self.wait_for(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.wait_for(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/clear"),
            json!({}),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.wait_for(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{e}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Waits (bounded) until `css`'s text satisfies `ok`; returns every distinct text seen.
    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..LOOKS {
            if self.find(css).await.is_some() {
                let t = self.text(css).await;
                if seen.last() != Some(&t) {
                    seen.push(t.clone());
                }
                if ok(&t) {
                    return seen;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{css} never read as expected; saw {seen:?}");
    }

    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// Saves a PNG of the viewport at `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// The value of the cookie `name` (HttpOnly ones included: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let v = self
            .try_cmd(
                reqwest::Method::GET,
                &format!("/cookie/{name}"),
                Value::Null,
            )
            .await?;
        v["value"].as_str().map(str::to_string)
    }

    /// Ends the browser session (chromium exits); chromedriver ends on drop.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }

    /// Presses Tab once.
    pub async fn tab(&self) {
        let keys = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
            { "type": "keyDown", "value": "\u{E004}" }, { "type": "keyUp", "value": "\u{E004}" } ] }] });
        self.cmd(reqwest::Method::POST, "/actions", keys).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the chromium it started: the process group this test made.
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) on our own child's process group has no memory effects.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
