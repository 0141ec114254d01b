use proptest::prelude::*;

use super::*;
use crate::live_runs::StepFeed;

fn step(idx: i64, status: &str, text: &str) -> StepFeed {
    StepFeed {
        idx,
        name: format!("s{idx}"),
        status: status.into(),
        exit_code: None,
        text: Arc::from(text),
        chars: text.chars().count() as i64,
    }
}

fn feed(status: &str, steps: Vec<StepFeed>) -> Feed {
    Feed {
        status: status.into(),
        reason: None,
        attempt: 1,
        steps,
        gone: false,
    }
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.name).collect()
}

#[test]
fn a_run_streams_step_log_step_then_end() {
    let mut cur = Cursor::default();
    let e = diff(&feed("running", vec![step(0, "running", "he")]), &mut cur);
    assert_eq!(names(&e), ["step", "log"]);
    let e = diff(
        &feed(
            "succeeded",
            vec![step(0, "succeeded", "hello\n"), step(1, "succeeded", "x")],
        ),
        &mut cur,
    );
    assert_eq!(names(&e), ["log", "step", "log", "step", "end"]);
    assert_eq!(e[0].data["text"], "llo\n");
    assert_eq!(e[4].data["status"], "succeeded");
}

#[test]
fn resuming_from_an_event_id_sends_only_what_followed() {
    let mut cur = Cursor::default();
    let first = diff(&feed("running", vec![step(0, "running", "abc")]), &mut cur);
    let resumed = Cursor::parse(&first.last().unwrap().id).unwrap();
    let mut cur = resumed;
    let e = diff(
        &feed("running", vec![step(0, "running", "abcdef")]),
        &mut cur,
    );
    assert_eq!(names(&e), ["log"]);
    assert_eq!(e[0].data["text"], "def");
}

#[test]
fn a_bad_event_id_does_not_parse() {
    for bad in ["", "1.2", "x.0.0.", "1.0.0.Running", "-1.0.0.", "1.0.0.a b"] {
        assert!(Cursor::parse(bad).is_none(), "{bad:?}");
    }
    assert!(Cursor::parse("1.0.0.").is_some());
}

#[test]
fn long_logs_come_in_chunks_on_character_boundaries() {
    let text = "é".repeat(CHUNK);
    let mut cur = Cursor::default();
    let e = diff(&feed("running", vec![step(0, "running", &text)]), &mut cur);
    let joined: String = e
        .iter()
        .filter(|e| e.name == "log")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(joined, text);
    assert!(e.iter().filter(|e| e.name == "log").count() >= 2);
}

#[test]
fn a_new_attempt_starts_over() {
    let mut cur = Cursor::default();
    diff(
        &feed(
            "running",
            vec![step(0, "failed", "a"), step(1, "running", "b")],
        ),
        &mut cur,
    );
    let mut again = feed("running", vec![step(0, "running", "z")]);
    again.attempt = 2;
    let e = diff(&again, &mut cur);
    assert_eq!(names(&e), ["step", "log"]);
    assert_eq!(e[1].data["text"], "z");
}

proptest! {
    /// However the log grows between reads, and wherever a follower reconnects, it receives
    /// each step's whole text exactly once.
    #[test]
    fn followers_see_each_log_exactly_once(
        texts in prop::collection::vec("[a-zé\n]{0,40}", 1..4),
        cuts in prop::collection::vec(0usize..50, 1..8),
        resume_at in 0usize..100,
    ) {
        // Snapshots of a run whose steps run one after another.
        let mut snaps = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (t.len() + 1)).filter(|p| t.is_char_boundary(*p)).collect();
            points.sort_unstable();
            for p in points {
                let mut steps: Vec<StepFeed> = texts[..i].iter().enumerate().map(|(j, t)| step(j as i64, "succeeded", t)).collect();
                steps.push(step(i as i64, "running", &t[..p]));
                snaps.push(feed("running", steps));
            }
        }
        snaps.push(feed("succeeded", texts.iter().enumerate().map(|(j, t)| step(j as i64, "succeeded", t)).collect()));

        let mut cur = Cursor::default();
        let mut got: Vec<String> = vec![String::new(); texts.len()];
        let mut seen = 0;
        for snap in &snaps {
            // A reconnecting follower reads the same state again.
            let mut reconnected = true;
            while reconnected {
                reconnected = false;
                for e in diff(snap, &mut cur) {
                    seen += 1;
                    if e.name == "log" {
                        got[e.data["idx"].as_i64().unwrap() as usize].push_str(e.data["text"].as_str().unwrap());
                    }
                    if seen == resume_at {
                        // The connection drops after this event (the rest of the batch is
                        // lost); a fresh follower resumes from its id.
                        cur = Cursor::parse(&e.id).unwrap();
                        reconnected = true;
                        break;
                    }
                }
            }
        }
        prop_assert_eq!(got, texts);
    }
}
