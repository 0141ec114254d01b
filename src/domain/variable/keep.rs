//! Parsing only the parts of a body that a hook reads.
//!
//! A hook reads a handful of fields out of a payload of hundreds (GitHub's push has about 300
//! values; a hook reads five). Building a `serde_json::Value` of all of it is the largest cost of
//! a delivery after storage. [`Keep`] is the tree of what a hook's paths can reach, built once
//! when the hook is compiled. [`Keep::parse`] reads the whole body and checks all of its syntax
//! (the answer to malformed JSON is the same 400). It builds values only along that tree; every
//! other value is skipped by serde_json's `IgnoredAny` reader, which allocates nothing.
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

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::path::{CompiledPath, Step};

/// The parts of a document to build; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keep {
    /// Keep this whole value.
    all: bool,
    members: HashMap<String, Keep>,
    indices: HashMap<usize, Keep>,
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

    /// Parses `bytes` as JSON, building only what is kept. Rejects what a full parse rejects
    /// (bad syntax, escapes, control characters, bad UTF-8, trailing data), with one difference:
    /// serde_json's limit of 128 levels of nesting applies along the kept paths only. A skipped
    /// part is read by a loop, not by recursion, so its depth risks no stack, and is accepted.
    pub fn parse(&self, bytes: &[u8]) -> Result<Value, serde_json::Error> {
        if self.all {
            return serde_json::from_slice(bytes);
        }
        // `IgnoredAny` does not decode the strings it skips: check the encoding of all of it.
        if let Err(e) = std::str::from_utf8(bytes) {
            return Err(serde::de::Error::custom(format!(
                "invalid UTF-8 at byte {}",
                e.valid_up_to()
            )));
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
                None => seq.next_element::<IgnoredAny>()?.map(|_| Value::Null),
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
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads a member name; allocates it only when the member is kept.
struct KeptKey<'k>(&'k HashMap<String, Keep>);

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
        // Deep nesting: refused along a kept path, read without recursion where skipped.
        let deep = |member: &str| {
            "{\"".to_string() + member + "\":" + &"[".repeat(5_000) + &"]".repeat(5_000) + "}"
        };
        assert!(keep(&["$.b[0]"]).parse(deep("b").as_bytes()).is_err());
        assert_eq!(k.parse(deep("b").as_bytes()).unwrap(), json!({}));
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
    }
}
