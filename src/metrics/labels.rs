//! Label sets and label values. Every value is bounded: an enum, or an id that configuration
//! bounds (a hook or a pipeline). Never a delivery id or a run id.

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// What ingest did with one request on `POST /hooks/{hk}` (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Ignored,
    InvalidSignature,
    StaleTimestamp,
    InvalidBody,
    InvalidVariables,
    TooLarge,
    RateLimited,
    Inactive,
    IpNotAllowed,
    Unavailable,
    /// No such hook. Counted under the hook label `unknown`, so random ids add no series.
    HookNotFound,
}

impl Outcome {
    /// Every outcome, in the order SPEC §9 lists them (then `hook_not_found`).
    pub const ALL: [Outcome; 13] = [
        Outcome::Accepted,
        Outcome::Duplicate,
        Outcome::Ignored,
        Outcome::InvalidSignature,
        Outcome::StaleTimestamp,
        Outcome::InvalidBody,
        Outcome::InvalidVariables,
        Outcome::TooLarge,
        Outcome::RateLimited,
        Outcome::Inactive,
        Outcome::IpNotAllowed,
        Outcome::Unavailable,
        Outcome::HookNotFound,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::InvalidSignature => "invalid_signature",
            Outcome::StaleTimestamp => "stale_timestamp",
            Outcome::InvalidBody => "invalid_body",
            Outcome::InvalidVariables => "invalid_variables",
            Outcome::TooLarge => "too_large",
            Outcome::RateLimited => "rate_limited",
            Outcome::Inactive => "inactive",
            Outcome::IpNotAllowed => "ip_not_allowed",
            Outcome::Unavailable => "unavailable",
            Outcome::HookNotFound => "hook_not_found",
        }
    }

    /// The outcome of an error answer, from its stable code (`ApiError::code`). Codes this
    /// list does not name count as `invalid_body` (a 4xx) or `unavailable` (a 5xx).
    pub fn from_error(status: u16, code: &str) -> Self {
        match code {
            "invalid_signature" => Outcome::InvalidSignature,
            "stale_timestamp" => Outcome::StaleTimestamp,
            "invalid_variables" => Outcome::InvalidVariables,
            "body_too_large" => Outcome::TooLarge,
            "rate_limited" => Outcome::RateLimited,
            "hook_inactive" => Outcome::Inactive,
            "ip_not_allowed" => Outcome::IpNotAllowed,
            "hook_not_found" => Outcome::HookNotFound,
            _ if status >= 500 => Outcome::Unavailable,
            _ => Outcome::InvalidBody,
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The label value of a hook whose id is not a configured hook.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub hook: String,
    pub provider: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PipelineLabels {
    pub pipeline: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PipelineStatusLabels {
    pub pipeline: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutgoingLabels {
    pub hook: String,
    pub result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SlotLabels {
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct VersionLabels {
    pub version: &'static str,
}
