//! A step's captured output: capped, with secret values redacted before it is stored.

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
#[derive(Debug, Clone)]
pub struct StepLog {
    cap: usize,
    secrets: Vec<Vec<u8>>,
    buf: Vec<u8>,
    output_len: usize,
    notes_len: usize,
    /// Where in `buf` the output was cut, once it was.
    cut_at: Option<usize>,
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
            cap,
            secrets,
            buf: Vec::new(),
            output_len: 0,
            notes_len: 0,
            cut_at: None,
        }
    }

    /// Appends program output; bytes beyond the cap are dropped and the truncation is noted once.
    pub fn push(&mut self, bytes: &[u8]) {
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

    /// Appends one of hookgate's own notes (e.g. `exit code 3`) followed by a newline.
    pub fn line(&mut self, text: &str) {
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

    /// Whether output was dropped because of the cap.
    pub fn truncated(&self) -> bool {
        self.cut_at.is_some()
    }

    /// The final text with secrets redacted; ends with `[… output truncated at N bytes]` when
    /// the cap was reached.
    pub fn text(&self) -> String {
        let spans = self.secret_spans();
        let mut out = String::with_capacity(self.buf.len() + 64);
        let mut pos = 0;
        for (start, end) in spans {
            out.push_str(&String::from_utf8_lossy(&self.buf[pos..start]));
            out.push_str(REDACTED);
            pos = end;
        }
        out.push_str(&String::from_utf8_lossy(&self.buf[pos..]));
        if self.truncated() {
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

    proptest! {
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
