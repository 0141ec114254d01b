//! `${name}` templates: parsing, validation of names, and rendering.
//!
//! - `${name}` substitutes a variable; `${secrets.NAME}` a pipeline secret.
//! - `$${` is a literal `${`.
//! - An absent or null variable renders as the empty string; strings render as they are,
//!   numbers and booleans in their JSON form, objects and arrays as compact JSON.
//! - In a JSON body, a string that is exactly `"${name}"` takes the variable's typed value.

use serde_json::{Map, Value};

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Literal(&'a str),
    /// `$${`, rendered as `${`.
    Escaped,
    Var(&'a str),
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed ${{ at byte {0}")]
    Unclosed(usize),
    #[error("{0:?} is not a valid variable name (letters, digits, _ and one `secrets.` prefix)")]
    BadName(String),
}

/// True for `name`, `source_ref`, `secrets.GITHUB_TOKEN`.
pub fn is_valid_name(name: &str) -> bool {
    let plain = name.strip_prefix("secrets.").unwrap_or(name);
    let mut chars = plain.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a template into literal text, escapes and variable references.
pub fn parse(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let bytes = template.as_bytes();
    let (mut i, mut lit_start) = (0, 0);
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$${") {
            if lit_start < i {
                parts.push(Part::Literal(&template[lit_start..i]));
            }
            parts.push(Part::Escaped);
            i += 3;
            lit_start = i;
        } else if bytes[i..].starts_with(b"${") {
            if lit_start < i {
                parts.push(Part::Literal(&template[lit_start..i]));
            }
            let close = template[i + 2..]
                .find('}')
                .ok_or(TemplateError::Unclosed(i))?;
            let name = template[i + 2..i + 2 + close].trim();
            if !is_valid_name(name) {
                return Err(TemplateError::BadName(name.to_string()));
            }
            parts.push(Part::Var(name));
            i += 2 + close + 1;
            lit_start = i;
        } else {
            i += 1;
        }
    }
    if lit_start < bytes.len() {
        parts.push(Part::Literal(&template[lit_start..]));
    }
    Ok(parts)
}

/// The variable names a template refers to, in order of appearance.
pub fn names(template: &str) -> Result<Vec<&str>, TemplateError> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Var(n) => Some(n),
            _ => None,
        })
        .collect())
}

/// Every name referred to by the strings inside a JSON value (keys and values).
pub fn names_in_json(value: &Value, out: &mut Vec<String>) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => out.extend(names(s)?.into_iter().map(str::to_string)),
        Value::Array(items) => {
            for v in items {
                names_in_json(v, out)?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                out.extend(names(k)?.into_iter().map(str::to_string));
                names_in_json(v, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// How a variable's value reads inside text.
pub fn value_as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a template with `lookup` giving each name's value (None renders as empty).
pub fn render_with<'v>(
    template: &str,
    lookup: impl Fn(&str) -> Option<&'v Value>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for part in parse(template)? {
        match part {
            Part::Literal(s) => out.push_str(s),
            Part::Escaped => out.push_str("${"),
            Part::Var(name) => {
                if let Some(v) = lookup(name) {
                    out.push_str(&value_as_text(v));
                }
            }
        }
    }
    Ok(out)
}

/// Renders a template over a map of variables.
pub fn render(template: &str, vars: &Map<String, Value>) -> Result<String, TemplateError> {
    render_with(template, |n| vars.get(n))
}

/// Renders every string of a JSON value; a string that is exactly `${name}` keeps the typed value.
pub fn render_json<'v>(
    value: &Value,
    lookup: &impl Fn(&str) -> Option<&'v Value>,
) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => match parse(s)?.as_slice() {
            [Part::Var(name)] => lookup(name).cloned().unwrap_or(Value::Null),
            _ => Value::String(render_with(s, lookup)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(render_with(k, lookup)?, render_json(v, lookup)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Map<String, Value> {
        json!({"ref": "main", "n": 42, "ok": true, "obj": {"a": 1}, "nil": null})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn renders_text() {
        let v = vars();
        assert_eq!(
            render("deploy ${ref} #${n} ${ok}", &v).unwrap(),
            "deploy main #42 true"
        );
        assert_eq!(render("${missing}|${nil}|", &v).unwrap(), "||");
        assert_eq!(render("$${ref} costs $5", &v).unwrap(), "${ref} costs $5");
        assert_eq!(render("${obj}", &v).unwrap(), "{\"a\":1}");
        assert_eq!(render("${ ref }", &v).unwrap(), "main");
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(render("${ref", &vars()), Err(TemplateError::Unclosed(0)));
        assert!(matches!(parse("${a-b}"), Err(TemplateError::BadName(_))));
        assert!(matches!(parse("${}"), Err(TemplateError::BadName(_))));
        assert!(matches!(
            parse("${secrets.}"),
            Err(TemplateError::BadName(_))
        ));
        assert_eq!(
            names("${a} ${secrets.T} $${b}").unwrap(),
            vec!["a", "secrets.T"]
        );
    }

    #[test]
    fn json_keeps_types_for_whole_string_placeholders() {
        let v = vars();
        let lookup = |n: &str| v.get(n);
        let out = render_json(
            &json!({"pr": "${n}", "s": "#${n}", "list": ["${ok}"], "k${ref}": 1}),
            &lookup,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"pr": 42, "s": "#42", "list": [true], "kmain": 1})
        );
    }

    proptest::proptest! {
        #[test]
        fn text_without_dollar_renders_as_itself(s in "[^$]*") {
            proptest::prop_assert_eq!(render(&s, &vars()).unwrap(), s);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = parse(&s);
        }
    }
}
