//! Parsing only the parts of a body that a hook reads.
//!
//! A hook reads a handful of fields out of a payload of hundreds (GitHub's push has about 300
//! values; a hook reads five). Building a `serde_json::Value` of all of it is the largest cost of
//! a delivery after storage. [`Keep`] is the tree of what a hook's paths can reach, built once
//! when the hook is compiled. [`Keep::parse`] reads the whole body and checks all of its syntax
//! (the answer to malformed JSON is the same 400). It builds values only along that tree; every
//! other value is walked by [`Skip`], which checks it as a full parse would and builds nothing.
//!
//! A body is judged whole (SPEC §7): what a full parse refuses is refused wherever it sits.
//! serde_json's own skipper (`IgnoredAny`) checks syntax only: it accepts any depth, a number
//! out of range (`1e400`) and a lone surrogate (`"\udc00"`). [`Skip`] instead asks the
//! deserializer for each value (`deserialize_any`) and drops it: serde_json then applies its
//! depth limit (128 levels, counted from the root, as in a full parse), converts numbers
//! (refusing what overflows an f64) and decodes strings (refusing lone surrogates) into its
//! reused scratch buffer. Nothing is allocated per value.
//!
//! The result is a document with the same shape on the kept paths:
//! - an object keeps only the members on the tree;
//! - an array keeps its length, with `null` in the places of elements it skips, so indices still
//!   point at the same elements;
//! - where a path ends, the whole value is kept.
//!
//! A direct path (member names and non-negative indices) selects the same node in it as in the
//! full document. Any other path (wildcards, filters, descendants, negative indices) needs the
//! whole document, so a hook with one gets [`Keep::everything`].

use std::collections::HashMap;
use std::fmt;

use foldhash::fast::FixedState;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::path::{CompiledPath, Step};

/// Kept members by name. Every member name of every object on the tree is looked up here, so
/// the hash is foldhash's fast one rather than SipHash (2% of ingest's instructions).
/// Its fixed seed is safe: the table is built from the hook's own paths and never grows from a
/// body, so a body's names can only miss.
type Members = HashMap<String, Keep, FixedState>;

/// The parts of a document to build; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keep {
    /// Keep this whole value.
    all: bool,
    members: Members,
    indices: HashMap<usize, Keep, FixedState>,
}

impl Keep {
    /// Keeps nothing but the top-level shape (an empty object or array, or a scalar).
    pub fn nothing() -> Self {
        Self::default()
    }

    /// Keeps the whole document (a full parse).
    pub fn everything() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// True when the whole document is kept.
    pub fn is_everything(&self) -> bool {
        self.all
    }

    /// Also keeps what `path` can select.
    pub fn add_path(&mut self, path: &CompiledPath) {
        match path.direct_steps() {
            Some(steps) => self.add_steps(steps),
            None => *self = Self::everything(),
        }
    }

    /// Also keeps the top-level member `name` (a provider's event or delivery id field).
    pub fn add_member(&mut self, name: &str) {
        self.add_steps(&[Step::Member(name.to_string())]);
    }

    fn add_steps(&mut self, steps: &[Step]) {
        if self.all {
            return;
        }
        match steps.split_first() {
            None => *self = Self::everything(),
            Some((Step::Member(name), rest)) => self
                .members
                .entry(name.clone())
                .or_default()
                .add_steps(rest),
            Some((Step::Index(i), rest)) => self.indices.entry(*i).or_default().add_steps(rest),
        }
    }

    /// Parses `bytes` as JSON, building only what is kept. Rejects exactly what a full parse
    /// rejects (bad syntax, escapes, control characters, bad UTF-8, trailing data, nesting past
    /// 128 levels, numbers out of range, lone surrogates), wherever it sits.
    pub fn parse(&self, bytes: &[u8]) -> Result<Value, serde_json::Error> {
        if self.all {
            return serde_json::from_slice(bytes);
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = self.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for &Keep {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        if self.all {
            Value::deserialize(de)
        } else {
            de.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for &Keep {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let next = match self.indices.get(&out.len()) {
                Some(child) => seq.next_element_seed(child)?,
                None => seq.next_element_seed(Skip)?.map(|()| Value::Null),
            };
            match next {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeptKey(&self.members))? {
            match key {
                Some((name, child)) => {
                    // A repeated member replaces the earlier one, as in a full parse.
                    let value = map.next_value_seed(child)?;
                    out.insert(name, value);
                }
                None => {
                    map.next_value_seed(Skip)?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads one value as a full parse would (depth, number range, string escapes and encoding
/// checked by serde_json) and keeps nothing of it.
#[derive(Clone, Copy)]
pub struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// Reads a member name; allocates it only when the member is kept.
struct KeptKey<'k>(&'k Members);

impl<'de, 'k> DeserializeSeed<'de> for KeptKey<'k> {
    type Value = Option<(String, &'k Keep)>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de, 'k> Visitor<'de> for KeptKey<'k> {
    type Value = Option<(String, &'k Keep)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(name).map(|child| (name.to_string(), child)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::compile_path;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn keep(paths: &[&str]) -> Keep {
        let mut k = Keep::nothing();
        for p in paths {
            k.add_path(&compile_path(p).unwrap());
        }
        k
    }

    #[test]
    fn builds_only_the_kept_paths() {
        let body = br#"{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/r","owner":{"login":"o"}},
            "commits":[{"id":"c1","message":"one"},{"id":"c2","message":"two"}],"pusher":{"name":"p","email":"e"}}"#;
        let k = keep(&[
            "$.ref",
            "$.repository.full_name",
            "$.commits[1].id",
            "$.pusher",
        ]);
        assert_eq!(
            k.parse(body).unwrap(),
            json!({"ref": "refs/heads/main", "repository": {"full_name": "o/r"},
                   "commits": [null, {"id": "c2"}], "pusher": {"name": "p", "email": "e"}})
        );
        assert_eq!(Keep::nothing().parse(body).unwrap(), json!({}));
        assert_eq!(
            Keep::everything().parse(body).unwrap(),
            serde_json::from_slice::<Value>(body).unwrap()
        );
    }

    #[test]
    fn a_path_that_is_not_direct_keeps_everything() {
        for p in [
            "$.commits[*].id",
            "$..id",
            "$.commits[-1]",
            "$.a[?@.b == 1]",
        ] {
            assert!(keep(&["$.ref", p]).is_everything(), "{p}");
        }
        assert!(keep(&["$"]).is_everything());
        let mut k = keep(&["$.ref"]);
        k.add_member("type");
        assert!(!k.is_everything());
    }

    #[test]
    fn rejects_what_a_full_parse_rejects() {
        let k = keep(&["$.a"]);
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\":1,}",
            b"{\"b\":[1,2}",
            b"{\"a\":1} x",
            b"{\"b\":\"\xff\"}",
            b"{\"b\":\"tab\there\"}",
            b"{\"b\":\"\\q\"}",
            b"{\"b\":01}",
        ] {
            assert!(serde_json::from_slice::<Value>(bad).is_err(), "{bad:?}");
            assert!(k.parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// What only a full parse used to see (depth, number range, surrogates) is refused in a
    /// skipped member as in a kept one, and as serde_json refuses it.
    #[test]
    fn a_body_is_judged_whole() {
        let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        for bad in [
            nested(100_000),
            nested(128),
            "1e400".to_string(),
            "-1e309".to_string(),
            "\"\\udc00\"".to_string(),
            "\"\\ud800\"".to_string(),
            "\"\\ud800\\u0041\"".to_string(),
            "{\"\\udc00\":1}".to_string(),
        ] {
            for member in ["a", "b"] {
                let body = format!("{{\"{member}\":{bad}}}");
                assert!(serde_json::from_str::<Value>(&body).is_err(), "{body:.60}");
                for k in [keep(&["$.a"]), Keep::nothing(), keep(&["$.a.x"])] {
                    assert!(k.parse(body.as_bytes()).is_err(), "{body:.60} {k:?}");
                }
            }
            // In an array element that is skipped too.
            let body = format!("[0,{bad}]");
            assert!(
                keep(&["$[0]"]).parse(body.as_bytes()).is_err(),
                "{body:.60}"
            );
        }
        // The depth is counted from the root, as in a full parse: 127 levels in all pass
        // (the top object and 126 arrays), 128 do not.
        for (levels, ok) in [(126, true), (127, false)] {
            let body = format!("{{\"b\":{}}}", nested(levels));
            assert_eq!(serde_json::from_str::<Value>(&body).is_ok(), ok);
            assert_eq!(
                keep(&["$.a"]).parse(body.as_bytes()).is_ok(),
                ok,
                "{levels}"
            );
        }
        // Paired surrogates and large but finite numbers are fine.
        let good = br#"{"b":["\ud83d\ude00",1e308,-1.5e-400,18446744073709551616]}"#;
        assert!(serde_json::from_slice::<Value>(good).is_ok());
        assert_eq!(keep(&["$.a"]).parse(good).unwrap(), json!({}));
    }

    #[test]
    fn repeated_and_escaped_member_names_behave_as_in_a_full_parse() {
        let body = br#"{"a":1,"\u0061":2,"b\"c":3}"#;
        let k = keep(&["$.a", "$['b\"c']"]);
        assert_eq!(k.parse(body).unwrap(), json!({"a": 2, "b\"c": 3}));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[abc]{1,2}", inner), 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn direct_path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[abc]{1,2}".prop_map(|n| format!(".{n}")),
                (0usize..4).prop_map(|i| format!("[{i}]"))
            ],
            0..4,
        )
        .prop_map(|steps| format!("${}", steps.concat()))
    }

    proptest! {
        /// Every path selects the same node in the pruned document as in the full one.
        #[test]
        fn kept_paths_select_what_the_full_document_holds(doc in json_value(), paths in prop::collection::vec(direct_path(), 1..6)) {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let compiled: Vec<CompiledPath> = paths.iter().map(|p| compile_path(p).unwrap()).collect();
            let mut k = Keep::nothing();
            for c in &compiled {
                k.add_path(c);
            }
            let pruned = k.parse(&bytes).unwrap();
            for (p, c) in paths.iter().zip(&compiled) {
                prop_assert_eq!(c.query(&pruned), c.query(&doc), "path {}", p);
            }
        }

        #[test]
        fn never_panics_and_agrees_on_validity(bytes in prop::collection::vec(any::<u8>(), 0..64), paths in prop::collection::vec(direct_path(), 0..3)) {
            let mut k = Keep::nothing();
            for p in &paths {
                k.add_path(&compile_path(p).unwrap());
            }
            prop_assert_eq!(k.parse(&bytes).is_ok(), serde_json::from_slice::<Value>(&bytes).is_ok());
        }

        /// Built from JSON-ish pieces, so that most inputs are near-valid and reach the checks
        /// of depth, numbers and escapes rather than failing on the first byte.
        #[test]
        fn agrees_with_a_full_parse_on_near_json(pieces in prop::collection::vec(prop_oneof![
            Just("{\"a\":"), Just("{\"b\":"), Just("["), Just("]"), Just("}"), Just(","),
            Just("1e400"), Just("1e308"), Just("-0.5"), Just("12"), Just("\"\\udc00\""),
            Just("\"\\ud83d\\ude00\""), Just("\"x\""), Just("null"), Just("\"\\ud800\""),
        ], 1..24), paths in prop::collection::vec(direct_path(), 0..3)) {
            let text = pieces.concat();
            let mut k = Keep::nothing();
            for p in &paths {
                k.add_path(&compile_path(p).unwrap());
            }
            prop_assert_eq!(k.parse(text.as_bytes()).is_ok(), serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
        }
    }
}
