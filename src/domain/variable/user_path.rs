//! Paths as users write them on a hook, read into RFC 9535 JSONPath:
//! - Devopness style without the root: `pull_request.head.ref` is `$.pull_request.head.ref`;
//! - Jayway (Jenkins Generic Webhook Trigger) style `.[`: `$.commits[*].['added','removed']`
//!   is `$.commits[*]['added','removed']`.
//!
//! A path that still does not parse gets a message that points at the position and, where a
//! small change makes it parse, says which (`commits[0.id` → `commits[0].id`), instead of the
//! parser's grammar dump.

use super::path::{compile_path_raw, CompiledPath};

/// Compiles a hook variable's body path.
pub fn compile_user_path(path: &str) -> Result<CompiledPath, String> {
    let normalized = normalize(path);
    compile_path_raw(&normalized).map_err(|position| explain(path, &normalized, position))
}

/// Adds the root when it is left out and reads Jayway's `.[` as `[` (outside quoted names;
/// `..[` is RFC 9535's descendant segment and stays).
pub fn normalize(path: &str) -> String {
    let rooted = if path.starts_with('$') {
        path.to_string()
    } else if path.starts_with('[') {
        format!("${path}")
    } else {
        format!("$.{path}")
    };
    let chars: Vec<char> = rooted.chars().collect();
    let mut out = String::with_capacity(rooted.len());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' && i + 1 < chars.len() {
                    out.push(chars[i + 1]);
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                let jayway = c == '.'
                    && chars.get(i + 1) == Some(&'[')
                    && (i == 0 || chars[i - 1] != '.')
                    && chars.get(i + 2) != Some(&'?');
                if !jayway {
                    if c == '\'' || c == '"' {
                        quote = Some(c);
                    }
                    out.push(c);
                }
            }
        }
        i += 1;
    }
    out
}

/// `invalid JSONPath "commits[0.id" at position 10: did you mean "commits[0].id"?`
fn explain(path: &str, normalized: &str, position: Option<usize>) -> String {
    // Positions count characters of what the user wrote, from 0.
    let shift = normalized.chars().count() as isize - path.chars().count() as isize;
    let mut message = format!("invalid JSONPath {path:?}");
    if let Some(p) = position {
        let at = (p as isize - shift.max(0)).max(0);
        message.push_str(&format!(" at position {at}"));
    }
    match suggest(normalized) {
        Some(fix) => {
            let shown = if path.starts_with('$') {
                fix
            } else {
                fix.strip_prefix("$.")
                    .or_else(|| fix.strip_prefix('$'))
                    .unwrap_or(&fix)
                    .to_string()
            };
            message.push_str(&format!(": did you mean {shown:?}?"));
        }
        None => message.push_str(
            ": write member names as .name or ['name'], indices as [0], wildcards as [*]",
        ),
    }
    message
}

/// A small change that makes the path parse, if one is found.
fn suggest(normalized: &str) -> Option<String> {
    let candidates = [
        close_bracket(normalized),
        normalized
            .strip_suffix('.')
            .filter(|s| !s.ends_with('.'))
            .map(str::to_string),
        quote_odd_names(normalized),
        normalized.strip_suffix(']').map(str::to_string),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| c != normalized && compile_path_raw(c).is_ok())
}

/// `$.commits[0.id` → `$.commits[0].id`: closes the first bracket left open after its index,
/// wildcard or quoted name.
fn close_bracket(text: &str) -> Option<String> {
    let open = text.find('[')?;
    let rest = &text[open + 1..];
    let token_len = if rest.starts_with('*') {
        1
    } else if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        rest[1..].find(q)? + 2
    } else {
        rest.find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len())
    };
    if token_len == 0 || rest[token_len..].starts_with(']') {
        // This bracket is fine: look further on.
        let after = open + 1 + token_len + 1;
        return close_bracket(text.get(after..)?).map(|fixed| format!("{}{fixed}", &text[..after]));
    }
    let at = open + 1 + token_len;
    Some(format!("{}]{}", &text[..at], &text[at..]))
}

/// `$.head_commit.user-name` → `$.head_commit['user-name']`: names that are not identifiers
/// need brackets in RFC 9535.
fn quote_odd_names(text: &str) -> Option<String> {
    let mut out = String::from("$");
    let body = text.strip_prefix('$')?;
    if body.contains(['[', '\'', '"']) {
        return None;
    }
    let mut changed = false;
    for name in body.strip_prefix('.')?.split('.') {
        let plain = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if plain || name == "*" {
            out.push('.');
            out.push_str(name);
        } else if name.is_empty() {
            return None;
        } else {
            changed = true;
            out.push_str(&format!("['{}']", name.replace('\'', "\\'")));
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use serde_json::json;

    #[test]
    fn jayway_dot_bracket_reads_as_bracket() {
        assert_eq!(
            normalize("$.commits[*].['modified','added','removed'][*]"),
            "$.commits[*]['modified','added','removed'][*]"
        );
        assert_eq!(normalize("$..[0]"), "$..[0]");
        assert_eq!(normalize("$['a.[b']"), "$['a.[b']");
        assert_eq!(normalize("a.b"), "$.a.b");
        assert_eq!(normalize("[0]"), "$[0]");
        let doc = json!({"commits": [
            {"added": ["a"], "modified": ["m"], "removed": []},
            {"added": [], "modified": ["n"], "removed": ["r"]}]});
        let mut got: Vec<&str> =
            compile_user_path("$.commits[*].['modified','added','removed'][*]")
                .unwrap()
                .query(&doc)
                .into_iter()
                .filter_map(|v| v.as_str())
                .collect();
        got.sort();
        assert_eq!(got, vec!["a", "m", "n", "r"]);
    }

    proptest::proptest! {
        /// An RFC 9535 path without Jayway's `.[` is left as it is; with it, each `.[` selects
        /// what `[` selects.
        #[test]
        fn normalize_only_rewrites_the_jayway_form(
            steps in proptest::collection::vec(
                proptest::prop_oneof!["[a-c]".prop_map(|k| format!(".{k}")),
                    "[a-c.\\[]{1,3}".prop_map(|k| format!("['{k}']")),
                    (0usize..3).prop_map(|i| format!("[{i}]")),
                    proptest::strategy::Just("[*]".to_string()),
                    proptest::strategy::Just("..a".to_string())], 0..5),
            jayway in proptest::collection::vec(proptest::bool::ANY, 5),
        ) {
            let rfc = format!("${}", steps.concat());
            proptest::prop_assert_eq!(normalize(&rfc), rfc.clone());
            let written: String = steps
                .iter()
                .zip(&jayway)
                .map(|(s, j)| if *j && s.starts_with('[') { format!(".{s}") } else { s.clone() })
                .collect();
            let doc = json!({"a": [{"b": 1, "a.[": 2}, {"c": [3]}], "b": {"a": {"a": 4}}});
            if let (Ok(w), Ok(r)) = (compile_user_path(&format!("${written}")), compile_user_path(&rfc)) {
                proptest::prop_assert_eq!(w.query(&doc), r.query(&doc));
            }
        }
    }

    #[test]
    fn bad_paths_point_at_the_position_and_the_fix() {
        let e = compile_user_path("commits[0.id").unwrap_err();
        assert!(e.contains("did you mean \"commits[0].id\"?"), "{e}");
        assert!(e.contains("at position"), "{e}");
        assert!(!e.contains("Rule"), "{e}");
        let e = compile_user_path("$.commits['x'.id").unwrap_err();
        assert!(e.contains("did you mean \"$.commits['x'].id\"?"), "{e}");
        let e = compile_user_path("pusher.").unwrap_err();
        assert!(e.contains("did you mean \"pusher\"?"), "{e}");
        let e = compile_user_path("head_commit.user-name").unwrap_err();
        assert!(
            e.contains("did you mean \"$['head_commit']['user-name']\"?")
                || e.contains("['user-name']"),
            "{e}"
        );
        let e = compile_user_path("$[").unwrap_err();
        assert!(e.starts_with("invalid JSONPath \"$[\""), "{e}");
    }
}
