//! What the request log says of a delivery: its outcome and how its signature was checked.
//! Both are stored as text (`deliveries.outcome`, `deliveries.verification`) and typed here.

use serde::{Deserialize, Serialize};

/// What became of a delivery. Stored and shown as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A run was queued for it (202).
    Accepted,
    /// The sender's delivery id was seen before on this hook: no new run (200).
    Duplicate,
    /// A filter did not pass, or it was Slack's challenge: no run (200).
    Ignored,
    /// Refused: bad signature, inactive hook, bad variables, rate limit…
    Rejected,
}

named_enum!(DeliveryOutcome {
    Accepted = "accepted",
    Duplicate = "duplicate",
    Ignored = "ignored",
    Rejected = "rejected",
});

/// Which of a hook's secrets verified a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretUsed {
    Current,
    /// The previous secret, during a rotation's grace period.
    Previous,
}

/// How a delivery's signature was checked, stored as JSON tagged by `result`:
/// `{ "result": "verified", "secret": "current" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verification {
    /// Refused before the signature was read (size, inactive hook, address).
    NotChecked,
    /// The hook accepts unsigned requests.
    NotRequired,
    Verified {
        secret: SecretUsed,
    },
    /// The signature check failed; `problem` names the step, never an expected value.
    Failed {
        problem: String,
    },
    /// A replay of `original`; its signature is not checked again.
    Replayed {
        original: String,
    },
    /// The test route was asked not to check it (never stored).
    Skipped,
    /// A stored record this version cannot read.
    #[serde(other)]
    Unrecognized,
}

impl Verification {
    /// The request passed authentication (or needed none), so it was kept whole.
    pub fn is_authenticated(&self) -> bool {
        matches!(
            self,
            Verification::Verified { .. }
                | Verification::NotRequired
                | Verification::Replayed { .. }
        )
    }

    /// The stored text: `{"result":…}` with the tag first.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a verification serializes")
    }
}

impl From<String> for Verification {
    /// Reads the stored text; what cannot be read is `Unrecognized`, never an error.
    fn from(text: String) -> Self {
        serde_json::from_str(&text).unwrap_or(Verification::Unrecognized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_names_round_trip_and_match_serde() {
        for o in DeliveryOutcome::ALL {
            assert_eq!(o.as_str().parse(), Ok(o));
            assert_eq!(serde_json::to_value(o).unwrap(), json!(o.as_str()));
        }
        assert!("Accepted".parse::<DeliveryOutcome>().is_err());
    }

    #[test]
    fn verification_text_is_what_was_stored_before() {
        // The JSON the request log has always held, byte for byte (tag first).
        let cases = [
            (Verification::NotChecked, json!({ "result": "not_checked" })),
            (
                Verification::NotRequired,
                json!({ "result": "not_required" }),
            ),
            (
                Verification::Verified {
                    secret: SecretUsed::Current,
                },
                json!({ "result": "verified", "secret": "current" }),
            ),
            (
                Verification::Verified {
                    secret: SecretUsed::Previous,
                },
                json!({ "result": "verified", "secret": "previous" }),
            ),
            (
                Verification::Failed {
                    problem: "no signature header".into(),
                },
                json!({ "result": "failed", "problem": "no signature header" }),
            ),
            (
                Verification::Replayed {
                    original: "dlv_1".into(),
                },
                json!({ "result": "replayed", "original": "dlv_1" }),
            ),
        ];
        for (v, stored) in cases {
            assert_eq!(v.to_json(), stored.to_string());
            assert_eq!(Verification::from(stored.to_string()), v);
        }
    }

    #[test]
    fn unreadable_verification_is_unrecognized_and_not_authenticated() {
        for text in ["{}", "", "null", r#"{"result":"later"}"#] {
            let v = Verification::from(text.to_string());
            assert_eq!(v, Verification::Unrecognized);
            assert!(!v.is_authenticated());
        }
    }
}
