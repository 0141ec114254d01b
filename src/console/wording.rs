//! Plain words for a delivery's outcome: what the request log stores as codes and problems,
//! said the way a person reads it ("the X-Hub-Signature-256 header is missing", "signed with
//! another secret").

use serde_json::Value;

/// The verification result of a stored delivery, in a sentence.
pub fn verification(v: &Value) -> String {
    match v["result"].as_str() {
        Some("verified") => match v["secret"].as_str() {
            Some("previous") => {
                "verified with the previous secret (still valid during a rotation's grace period)"
                    .into()
            }
            _ => "verified with the hook's current secret".into(),
        },
        Some("not_required") => "not checked: this hook accepts unsigned requests".into(),
        Some("replayed") => match v["original"].as_str() {
            Some(original) => format!("a replay of {original}; the signature is not checked again"),
            None => "a replay; the signature is not checked again".into(),
        },
        Some("skipped") => "not checked (signature check skipped)".into(),
        Some("failed") => match v["problem"].as_str() {
            Some(problem) => signature_problem(problem),
            None => "the signature check failed".into(),
        },
        _ => "not checked: the request was refused before its signature was read".into(),
    }
}

/// A signature problem as the verifier words it, with header names in their usual case and a
/// mismatch said as what it almost always means.
pub fn signature_problem(problem: &str) -> String {
    if problem == "the signature does not match" {
        return "signed with another secret: the signature matches none of this hook's secrets"
            .into();
    }
    if problem == "the signed timestamp is outside the allowed tolerance" {
        return "the signed timestamp is too old (or in the future): outside the provider's tolerance"
            .into();
    }
    for (before, after) in [("the ", " header is"), ("from ", "")] {
        if let Some(rest) = problem.split_once(before).map(|(_, r)| r) {
            let name_end = if after.is_empty() {
                rest.len()
            } else {
                match rest.find(after) {
                    Some(i) => i,
                    None => continue,
                }
            };
            let name = &rest[..name_end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return problem.replacen(name, &header_case(name), 1);
            }
        }
    }
    problem.to_string()
}

/// `x-hub-signature-256` → `X-Hub-Signature-256`.
pub fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Why a delivery was refused, from the error code answered (the detail is beside it).
pub fn refusal(code: &str) -> &'static str {
    match code {
        "invalid_signature" => "the signature did not verify",
        "stale_timestamp" => "the signed timestamp was outside the tolerance",
        "invalid_body" => "the body could not be parsed",
        "invalid_variables" => "a variable was missing or of the wrong type",
        "body_too_large" => "the body was over the size limit",
        "unsupported_media_type" => "the body was neither JSON nor a form with a payload field",
        "hook_inactive" => "the hook was switched off",
        "ip_not_allowed" => "the sender's address is not in the hook's allowed_ips",
        "rate_limited" => "the hook's rate limit was reached",
        "unavailable" => "the database was unavailable",
        _ => "the request was refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_are_said_in_plain_words() {
        let missing =
            json!({ "result": "failed", "problem": "the x-hub-signature-256 header is missing" });
        assert_eq!(
            verification(&missing),
            "the X-Hub-Signature-256 header is missing"
        );
        let other = json!({ "result": "failed", "problem": "the signature does not match" });
        assert!(verification(&other).starts_with("signed with another secret"));
        let ts = json!({ "result": "failed", "problem": "the timestamp is missing from webhook-timestamp" });
        assert_eq!(
            verification(&ts),
            "the timestamp is missing from Webhook-Timestamp"
        );
        assert!(
            verification(&json!({ "result": "verified", "secret": "previous" }))
                .contains("previous secret")
        );
        assert_eq!(refusal("no_such_code"), "the request was refused");
    }
}
