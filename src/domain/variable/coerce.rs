//! Conversion of extracted JSON values to a variable's declared type.

use serde_json::{Number, Value};

/// The type a variable's value is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VariableType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    /// Any JSON value, kept as it is.
    Json,
}

impl VariableType {
    /// The type named in the API (`string`, `integer`, `number`, `boolean`, `json`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "json" => Self::Json,
            _ => return None,
        })
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Json => "json",
        }
    }
}

/// The JSON type of a value, as named in problems.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Converts a JSON value to `kind`.
///
/// Scalars convert to `string` (numbers and booleans as their JSON text). `integer` takes whole
/// numbers (`42`, `42.0`) and strings holding one (`"42"`); `number` takes numbers and numeric
/// strings; `boolean` takes booleans and `"true"`/`"false"`; `json` takes anything.
/// The error names the JSON type that was found.
pub fn coerce(value: &Value, kind: VariableType) -> Result<Value, String> {
    let converted = match (kind, value) {
        (VariableType::Json, v) => Some(v.clone()),
        (VariableType::String, Value::String(_)) => Some(value.clone()),
        (VariableType::String, Value::Number(n)) => Some(Value::String(n.to_string())),
        (VariableType::String, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (VariableType::Integer, Value::Number(n)) => whole(n),
        (VariableType::Integer, Value::String(s)) => numeric(s).as_ref().and_then(whole),
        (VariableType::Number, Value::Number(_)) => Some(value.clone()),
        (VariableType::Number, Value::String(s)) => numeric(s).map(Value::Number),
        (VariableType::Boolean, Value::Bool(_)) => Some(value.clone()),
        (VariableType::Boolean, Value::String(s)) => match s.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    converted.ok_or_else(|| mismatch(value, kind))
}

fn mismatch(value: &Value, kind: VariableType) -> String {
    let found = json_type(value);
    let detail = match value {
        Value::String(s) => format!(" {}", short(s)),
        Value::Number(n) => format!(" {n}"),
        _ => String::new(),
    };
    format!("expected {}, found {found}{detail}", kind.as_str())
}

/// A quoted, bounded excerpt: variables are not secret, but problems must stay short.
fn short(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

/// A string holding exactly a JSON number (no whitespace, no `+`, no `NaN`/`inf`).
fn numeric(s: &str) -> Option<Number> {
    let first = s.bytes().next()?;
    let last = s.bytes().last()?;
    if !(first == b'-' || first.is_ascii_digit()) || !last.is_ascii_digit() {
        return None;
    }
    serde_json::from_str::<Number>(s).ok()
}

fn whole(n: &Number) -> Option<Value> {
    if n.is_i64() || n.is_u64() {
        return Some(Value::Number(n.clone()));
    }
    let f = n.as_f64()?;
    // 2^63 is exactly representable; every f64 below it with no fraction fits an i64.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then(|| Value::from(f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use VariableType::*;

    #[test]
    fn coercion_table() {
        let ok: &[(Value, VariableType, Value)] = &[
            (json!("main"), String, json!("main")),
            (json!(42), String, json!("42")),
            (json!(4.5), String, json!("4.5")),
            (json!(true), String, json!("true")),
            (json!(42), Integer, json!(42)),
            (json!(-7), Integer, json!(-7)),
            (json!(u64::MAX), Integer, json!(u64::MAX)),
            (json!(42.0), Integer, json!(42)),
            (json!("42"), Integer, json!(42)),
            (json!("-3"), Integer, json!(-3)),
            (json!("42.0"), Integer, json!(42)),
            (json!("1e3"), Integer, json!(1000)),
            (json!(4.5), Number, json!(4.5)),
            (json!(3), Number, json!(3)),
            (json!("4.5"), Number, json!(4.5)),
            (json!("-0.25e1"), Number, json!(-2.5)),
            (json!(true), Boolean, json!(true)),
            (json!("false"), Boolean, json!(false)),
            (json!({"a": [1]}), Json, json!({"a": [1]})),
            (json!([1, "x"]), Json, json!([1, "x"])),
            (json!("s"), Json, json!("s")),
            (Value::Null, Json, Value::Null),
        ];
        for (input, kind, want) in ok {
            assert_eq!(
                coerce(input, *kind).as_ref(),
                Ok(want),
                "{input} as {kind:?}"
            );
        }
        let bad: &[(Value, VariableType, &str)] = &[
            (json!({"a": 1}), String, "expected string, found object"),
            (json!([1]), String, "expected string, found array"),
            (Value::Null, String, "expected string, found null"),
            (json!(4.5), Integer, "expected integer, found number 4.5"),
            (
                json!("4.5"),
                Integer,
                "expected integer, found string \"4.5\"",
            ),
            (
                json!("abc"),
                Integer,
                "expected integer, found string \"abc\"",
            ),
            (
                json!(" 42"),
                Integer,
                "expected integer, found string \" 42\"",
            ),
            (
                json!("+1"),
                Integer,
                "expected integer, found string \"+1\"",
            ),
            (json!(""), Integer, "expected integer, found string \"\""),
            (
                json!(1e300),
                Integer,
                "expected integer, found number 1e+300",
            ),
            (json!(true), Integer, "expected integer, found boolean"),
            (
                json!("NaN"),
                Number,
                "expected number, found string \"NaN\"",
            ),
            (
                json!("inf"),
                Number,
                "expected number, found string \"inf\"",
            ),
            (json!("1."), Number, "expected number, found string \"1.\""),
            (
                json!("1e400"),
                Number,
                "expected number, found string \"1e400\"",
            ),
            (json!([]), Number, "expected number, found array"),
            (
                json!("yes"),
                Boolean,
                "expected boolean, found string \"yes\"",
            ),
            (
                json!("True"),
                Boolean,
                "expected boolean, found string \"True\"",
            ),
            (json!(1), Boolean, "expected boolean, found number 1"),
        ];
        for (input, kind, want) in bad {
            assert_eq!(
                coerce(input, *kind),
                Err(want.to_string()),
                "{input} as {kind:?}"
            );
        }
    }

    #[test]
    fn long_strings_are_cut_in_problems() {
        let e = coerce(&json!("x".repeat(500)), Integer).unwrap_err();
        assert!(e.len() < 80, "{e}");
        assert!(e.ends_with('…'));
    }

    #[test]
    fn type_names_round_trip() {
        for k in [String, Integer, Number, Boolean, Json] {
            assert_eq!(VariableType::parse(k.as_str()), Some(k));
        }
        assert_eq!(VariableType::parse("int"), None);
        assert_eq!(VariableType::parse("String"), None);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".*".prop_map(Value::from),
            "-?[0-9]{1,25}(\\.[0-9]{0,3})?(e-?[0-9]{1,3})?".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 20, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{0,2}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn arb_kind() -> impl Strategy<Value = VariableType> {
        prop_oneof![
            Just(String),
            Just(Integer),
            Just(Number),
            Just(Boolean),
            Just(Json)
        ]
    }

    proptest! {
        #[test]
        fn coercion_never_panics_and_lands_in_the_type(v in arb_json(), kind in arb_kind()) {
            if let Ok(out) = coerce(&v, kind) {
                let fits = match kind {
                    String => out.is_string(),
                    Integer => out.is_i64() || out.is_u64(),
                    Number => out.is_number(),
                    Boolean => out.is_boolean(),
                    Json => out == v,
                };
                prop_assert!(fits, "{} as {:?} gave {}", v, kind, out);
                // Converting again is a no-op: a default, once checked, stays valid.
                prop_assert_eq!(coerce(&out, kind), Ok(out.clone()));
            }
        }

        #[test]
        fn integers_as_strings_convert(n in any::<i64>()) {
            prop_assert_eq!(coerce(&Value::from(n.to_string()), Integer), Ok(Value::from(n)));
        }
    }
}
