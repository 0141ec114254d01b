//! A step's captured output: capped, with secret values redacted before it is stored.
//!
//! The worker reads a settled prefix of it while the step runs ([`LiveLog`]) and stores that,
//! so that live followers see the output as it comes; that prefix is always a prefix of the
//! final text, with the same redactions.

use std::sync::{Arc, Mutex, MutexGuard};

/// What replaces every occurrence of a secret value.
const REDACTED: &str = "[redacted]";

/// Room for hookgate's own notes ([`StepLog::line`]) beyond the output cap, so that
/// "exit code 3" still shows after a program filled the log.
const NOTE_BUDGET: usize = 64 * 1024;

/// A step's captured output: capped (default 1 MiB), with every secret value replaced by
/// `[redacted]` before it is stored.
///
/// Raw bytes are kept and redacted as a whole in [`StepLog::text`], so a secret split across
/// two [`StepLog::push`] calls is still caught.
#[derive(Debug)]
pub struct StepLog {
    buf: Arc<Mutex<LogBuf>>,
}

/// A read-only handle on a [`StepLog`] being written, for storing it while the step runs.
#[derive(Debug, Clone)]
pub struct LiveLog {
    buf: Arc<Mutex<LogBuf>>,
}

#[derive(Debug)]
struct LogBuf {
    cap: usize,
    secrets: Vec<Vec<u8>>,
    buf: Vec<u8>,
    output_len: usize,
    notes_len: usize,
    /// Where in `buf` the output was cut, once it was.
    cut_at: Option<usize>,
}

fn lock(buf: &Mutex<LogBuf>) -> MutexGuard<'_, LogBuf> {
    // A panic while holding the lock leaves bytes that are still valid to read.
    buf.lock().unwrap_or_else(|e| e.into_inner())
}

impl StepLog {
    /// The usual cap on a step's output.
    pub const DEFAULT_CAP: usize = 1024 * 1024;

    /// A log keeping at most `cap` bytes of output; empty secret strings are ignored.
    pub fn new(cap: usize, secrets: Vec<String>) -> Self {
        let mut secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes)
            .collect();
        secrets.sort();
        secrets.dedup();
        Self {
            buf: Arc::new(Mutex::new(LogBuf {
                cap,
                secrets,
                buf: Vec::new(),
                output_len: 0,
                notes_len: 0,
                cut_at: None,
            })),
        }
    }

    /// Appends program output; bytes beyond the cap are dropped and the truncation is noted once.
    pub fn push(&mut self, bytes: &[u8]) {
        lock(&self.buf).push(bytes);
    }

    /// Appends one of hookgate's own notes (e.g. `exit code 3`) followed by a newline.
    pub fn line(&mut self, text: &str) {
        lock(&self.buf).line(text);
    }

    /// Whether output was dropped because of the cap.
    pub fn truncated(&self) -> bool {
        lock(&self.buf).cut_at.is_some()
    }

    /// The final text with secrets redacted; ends with `[… output truncated at N bytes]` when
    /// the cap was reached.
    pub fn text(&self) -> String {
        lock(&self.buf).text()
    }

    /// A handle that reads this log while it is written.
    pub fn live(&self) -> LiveLog {
        LiveLog {
            buf: self.buf.clone(),
        }
    }
}

impl LiveLog {
    /// How many bytes were written so far (grows with every write; tells a change).
    pub fn written(&self) -> usize {
        lock(&self.buf).buf.len()
    }

    /// The part of the text that can no longer change, redacted: a prefix of the final
    /// [`StepLog::text`]. The last bytes, which could still be the start of a secret, wait.
    pub fn settled_text(&self) -> String {
        lock(&self.buf).settled_text()
    }
}

impl LogBuf {
    fn push(&mut self, bytes: &[u8]) {
        if self.cut_at.is_some() {
            return;
        }
        let room = self.cap - self.output_len;
        let take = bytes.len().min(room);
        self.buf.extend_from_slice(&bytes[..take]);
        self.output_len += take;
        if take < bytes.len() {
            self.cut_at = Some(self.buf.len());
        }
    }

    fn line(&mut self, text: &str) {
        if self.notes_len + text.len() + 1 > NOTE_BUDGET {
            return;
        }
        // A note starts on its own line even when the program's output did not end with one.
        if self.buf.last().is_some_and(|&b| b != b'\n') {
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
        self.notes_len += text.len() + 1;
    }

    fn text(&self) -> String {
        let mut out = self.render(self.buf.len(), &self.secret_spans());
        if self.cut_at.is_some() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("[… output truncated at {} bytes]", self.cap));
        }
        // PostgreSQL's text refuses NUL: a log holding one could never be written.
        if out.contains('\0') {
            out = out.replace('\0', "\u{fffd}");
        }
        out
    }

    fn settled_text(&self) -> String {
        let longest = self.secrets.iter().map(Vec::len).max().unwrap_or(1);
        let mut end = self.buf.len().saturating_sub(longest - 1);
        // Never end inside a UTF-8 sequence: its bytes may still be coming.
        while end > 0 && end < self.buf.len() && self.buf[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        let mut lead = end;
        while lead > 0 && end - lead < 3 && self.buf[lead - 1] & 0xC0 == 0x80 {
            lead -= 1;
        }
        if lead > 0 {
            let need = match self.buf[lead - 1] {
                b if b >= 0xF0 => 4,
                b if b >= 0xE0 => 3,
                b if b >= 0xC0 => 2,
                _ => 1,
            };
            if lead - 1 + need > end {
                end = lead - 1;
            }
        }
        // A redaction that reaches `end` may still grow (merge with one not yet whole). A
        // secret starts on a character boundary, so this keeps `end` on one.
        let spans = self.secret_spans();
        if let Some(&(start, _)) = spans.iter().find(|(s, e)| *s < end && *e >= end) {
            end = start;
        }
        let spans: Vec<_> = spans.into_iter().filter(|(_, e)| *e <= end).collect();
        self.render(end, &spans)
    }

    /// `buf[..end]` with `spans` replaced; NULs become U+FFFD (PostgreSQL text cannot hold one).
    fn render(&self, end: usize, spans: &[(usize, usize)]) -> String {
        let mut out = String::with_capacity(end + 64);
        let mut pos = 0;
        for &(start, stop) in spans {
            out.push_str(&String::from_utf8_lossy(&self.buf[pos..start]));
            out.push_str(REDACTED);
            pos = stop;
        }
        out.push_str(&String::from_utf8_lossy(&self.buf[pos..end]));
        if out.contains('\0') {
            out = out.replace('\0', "\u{fffd}");
        }
        out
    }

    /// Sorted, merged byte ranges of `buf` to redact.
    fn secret_spans(&self) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        for secret in &self.secrets {
            // Overlapping occurrences too: "aa" in "aaa" must not leave a whole "aa" behind.
            let first = secret[0];
            for (i, &b) in self.buf.iter().enumerate() {
                if b == first && self.buf[i..].starts_with(secret) {
                    spans.push((i, i + secret.len()));
                }
            }
            // The cap may have cut a secret in half; its first part must not survive either.
            if let Some(cut) = self.cut_at {
                let before = &self.buf[..cut];
                if let Some(k) = (1..secret.len())
                    .rev()
                    .find(|&k| before.ends_with(&secret[..k]))
                {
                    spans.push((cut - k, cut));
                }
            }
        }
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn redacts_secrets_and_keeps_the_rest() {
        let mut log = StepLog::new(StepLog::DEFAULT_CAP, secrets(&["hunter2", ""]));
        log.push(b"token=hunter2 ok\n");
        log.line("exit code 0");
        assert_eq!(log.text(), "token=[redacted] ok\nexit code 0\n");
        assert!(!log.truncated());
    }

    #[test]
    fn catches_a_secret_split_across_pushes() {
        let mut log = StepLog::new(StepLog::DEFAULT_CAP, secrets(&["s3cr3t-value"]));
        log.push(b"a s3cr");
        log.push(b"3t-va");
        log.push(b"lue b");
        assert_eq!(log.text(), "a [redacted] b");
    }

    #[test]
    fn overlapping_secrets_are_merged() {
        let mut log = StepLog::new(100, secrets(&["abc", "bcd", "aa"]));
        log.push(b"xabcdy aaa");
        assert_eq!(log.text(), "x[redacted]y [redacted]");
    }

    #[test]
    fn caps_output_and_notes_it_once() {
        let mut log = StepLog::new(10, vec![]);
        log.push(b"0123456");
        log.push(b"789abcdef");
        log.push(b"more");
        log.line("exit code 3");
        assert!(log.truncated());
        assert_eq!(
            log.text(),
            "0123456789\nexit code 3\n[… output truncated at 10 bytes]"
        );
    }

    #[test]
    fn a_secret_cut_by_the_cap_leaves_no_prefix() {
        let mut log = StepLog::new(8, secrets(&["topsecret"]));
        log.push(b"ab tops");
        log.push(b"ecret");
        let text = log.text();
        assert_eq!(text, "ab [redacted]\n[… output truncated at 8 bytes]");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let mut log = StepLog::new(100, vec![]);
        log.push(&[b'a', 0xff, b'b']);
        assert_eq!(log.text(), "a\u{fffd}b");
    }

    #[test]
    fn nul_bytes_are_replaced() {
        let mut log = StepLog::new(100, vec![]);
        log.push(b"a\0b");
        assert_eq!(log.text(), "a\u{fffd}b");
    }

    #[test]
    fn the_settled_text_holds_back_what_may_be_a_secret() {
        let mut log = StepLog::new(100, secrets(&["hunter2"]));
        let live = log.live();
        log.push(b"token=hunt");
        assert_eq!(live.settled_text(), "toke");
        log.push(b"er2 done");
        assert_eq!(live.settled_text(), "token=");
        log.push(b" and more");
        assert_eq!(live.settled_text(), "token=[redacted] done an");
        assert_eq!(log.text(), "token=[redacted] done and more");
    }

    proptest! {
        #[test]
        fn the_settled_text_is_always_a_prefix_of_the_final_text(
            secret_list in prop::collection::vec("[ab]{1,4}", 0..3),
            chunks in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b' '), Just(0xC3u8), Just(0xA9u8)], 0..8), 0..10),
            cap in 4usize..64,
        ) {
            let mut log = StepLog::new(cap, secret_list);
            let live = log.live();
            let mut seen = Vec::new();
            for c in &chunks {
                log.push(c);
                seen.push(live.settled_text());
            }
            log.line("exit code 0");
            let end = log.text();
            for s in seen {
                prop_assert!(end.starts_with(&s), "{s:?} is not a prefix of {end:?}");
            }
        }

        #[test]
        fn no_secret_survives_any_chunking(
            secret_list in prop::collection::vec("[abc]{3,6}", 1..3),
            filler in prop::collection::vec("[abcx ]{0,8}", 0..8),
            cuts in prop::collection::vec(0usize..64, 0..6),
            cap in 8usize..200,
        ) {
            // Text that contains every secret, surrounded by noise from the same alphabet.
            let mut text = String::new();
            for (i, f) in filler.iter().enumerate() {
                text.push_str(f);
                text.push_str(&secret_list[i % secret_list.len()]);
            }
            text.push_str(&secret_list.concat());
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let mut log = StepLog::new(cap, secret_list.clone());
            for w in points.windows(2) {
                log.push(&bytes[w[0]..w[1]]);
            }
            let out = log.text();
            for s in &secret_list {
                prop_assert!(!out.contains(s.as_str()), "{s:?} survived in {out:?}");
            }
            prop_assert_eq!(log.truncated(), bytes.len() > cap);
        }
    }
}
