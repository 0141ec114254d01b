//! Reading apply documents for `hookgate apply | diff`: YAML or JSON files (JSON is YAML 1.2),
//! several documents per file (`---`) or a folder of files; `${env:…}` and `${file:…}`
//! resolved before anything is sent; and the line of each place, so that an error names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// One document and where it came from.
#[derive(Debug)]
pub struct Source {
    pub file: PathBuf,
    /// The document's place in its file (0 for the first).
    pub index: usize,
    pub value: Value,
    /// Line of each place (`pipelines[0].incoming[1].name` → 14).
    pub lines: HashMap<String, usize>,
}

impl Source {
    /// The line of `path`, or of its nearest enclosing place that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// `file:line` (or `file`, for the second and later documents `file#2`) for `path`.
    pub fn place(&self, path: &str) -> String {
        let mut s = self.file.display().to_string();
        if self.index > 0 {
            s.push_str(&format!("#{}", self.index + 1));
        }
        if let Some(l) = self.line_of(path) {
            s.push_str(&format!(":{l}"));
        }
        s
    }
}

/// The `.yaml`, `.yml` and `.json` files of `path` (a file, or a folder: its files in name order).
pub fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading the folder {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("{} holds no .yaml, .yml or .json file", path.display());
    }
    Ok(out)
}

/// Reads every document of `path`, resolving `${env:…}` and `${file:…}`; every problem is
/// reported, with its place, before anything is sent.
pub fn load(path: &Path) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for file in files(path)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let docs = parse_yaml(&text).map_err(|e| anyhow::anyhow!("{}:{e}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        for (index, (mut value, lines)) in docs.into_iter().enumerate() {
            let mut source = Source {
                file: file.clone(),
                index,
                value: Value::Null,
                lines,
            };
            let mut errs = Vec::new();
            interpolate(&mut value, "", &base, &mut errs);
            for (path, problem) in errs {
                problems.push(format!("{}: {path}: {problem}", source.place(&path)));
            }
            source.value = value;
            out.push(source);
        }
    }
    if !problems.is_empty() {
        bail!("nothing was sent:\n  {}", problems.join("\n  "));
    }
    if out.is_empty() {
        bail!("{} holds no document", path.display());
    }
    Ok(out)
}

/// A document and the line of each of its places.
pub type Document = (Value, HashMap<String, usize>);

/// Parses a YAML stream into its documents (empty ones left out), each with its line map.
pub fn parse_yaml(text: &str) -> Result<Vec<Document>, String> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut b, true)
        .map_err(|e| format!("{}: {}", e.marker().line(), e.info()))?;
    if let Some((line, e)) = b.error {
        return Err(format!("{line}: {e}"));
    }
    Ok(b.docs)
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        map: Map<String, Value>,
    },
    Seq {
        path: String,
        items: Vec<Value>,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
    root: Option<Value>,
    error: Option<(usize, String)>,
}

impl Builder {
    fn child_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Map { path, key, .. }) => {
                let k = key.as_deref().unwrap_or_default();
                if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                }
            }
            Some(Frame::Seq { path, items }) => format!("{path}[{}]", items.len()),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn add(&mut self, v: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Map { key, map, .. }) => {
                map.insert(key.take().unwrap_or_default(), v);
            }
            Some(Frame::Seq { items, .. }) => items.push(v),
        }
    }

    fn fail(&mut self, mark: Marker, problem: &str) {
        self.error.get_or_insert((mark.line(), problem.to_string()));
    }
}

fn scalar(v: String, style: TScalarStyle, tag: Option<&yaml_rust2::parser::Tag>) -> Value {
    let quoted = style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str");
    if quoted {
        return Value::String(v);
    }
    match Yaml::from_str(&v) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(v)),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(v),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.lines.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let lines = std::mem::take(&mut self.lines);
                match self.root.take() {
                    None | Some(Value::Null) => {}
                    Some(v) => self.docs.push((v, lines)),
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) if self.expecting_key() => {
                self.fail(mark, "a key must be a plain string");
            }
            Event::MappingStart(..) => {
                let path = self.child_path();
                self.lines.insert(path.clone(), mark.line());
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    map: Map::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.child_path();
                self.lines.insert(path.clone(), mark.line());
                self.stack.push(Frame::Seq {
                    path,
                    items: Vec::new(),
                });
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { map, .. }) = self.stack.pop() {
                    self.add(Value::Object(map));
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, .. }) = self.stack.pop() {
                    self.add(Value::Array(items));
                }
            }
            Event::Scalar(v, style, _, tag) => {
                if self.expecting_key() {
                    let duplicate = matches!(self.stack.last(), Some(Frame::Map { map, .. }) if map.contains_key(&v));
                    if duplicate {
                        self.fail(mark, &format!("the key {v:?} appears twice"));
                    }
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(v);
                    }
                    let path = self.child_path();
                    self.lines.insert(path, mark.line());
                } else {
                    let path = self.child_path();
                    self.lines.entry(path).or_insert(mark.line());
                    self.add(scalar(v, style, tag.as_ref()));
                }
            }
            Event::Alias(_) => self.fail(mark, "anchors and aliases (*name) are not supported"),
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Replaces `${env:NAME}` and `${file:PATH}` (relative to `base`, one trailing newline
/// trimmed) in every string of `v`. `$${` is left as it is: hookgate's own templates read it as
/// a literal `${`, and their `${name}` passes through unchanged.
pub fn interpolate(v: &mut Value, at: &str, base: &Path, errors: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.contains("${env:") || s.contains("${file:") => {
            match resolve(s, base) {
                Ok(r) => *s = r,
                Err(e) => errors.extend(e.into_iter().map(|p| (at.to_string(), p))),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{at}[{i}]"), base, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                interpolate(item, &path, base, errors);
            }
        }
        _ => {}
    }
}

fn resolve(s: &str, base: &Path) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(s.len());
    let mut problems = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("$${");
            rest = after;
            continue;
        }
        let kind = ["env", "file"]
            .into_iter()
            .find(|k| tail.starts_with(&format!("${{{k}:")));
        let (Some(kind), Some(end)) = (kind, tail.find('}')) else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let name = &tail[kind.len() + 3..end];
        match kind {
            "env" => match std::env::var(name) {
                Ok(v) => out.push_str(&v),
                Err(_) => problems.push(format!("${{env:{name}}} is not set")),
            },
            _ => match std::fs::read_to_string(base.join(name)) {
                Ok(v) => out.push_str(
                    v.strip_suffix("\r\n")
                        .or_else(|| v.strip_suffix('\n'))
                        .unwrap_or(&v),
                ),
                Err(e) => problems.push(format!("${{file:{name}}} cannot be read: {e}")),
            },
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lines_and_types() {
        let text = "project: web\npipelines:\n  - name: a\n    retries: 2\n    incoming:\n      - name: h\n        secret: '42'\n---\n---\nproject: other\n";
        let docs = parse_yaml(text).unwrap();
        assert_eq!(docs.len(), 2);
        let (v, lines) = &docs[0];
        assert_eq!(v["pipelines"][0]["retries"], serde_json::json!(2));
        assert_eq!(
            v["pipelines"][0]["incoming"][0]["secret"],
            serde_json::json!("42")
        );
        assert_eq!(lines["pipelines[0].incoming[0].name"], 6);
        assert_eq!(lines["pipelines[0].retries"], 4);
        assert_eq!(docs[1].0["project"], serde_json::json!("other"));
    }

    #[test]
    fn json_is_read_too_and_duplicates_are_refused() {
        let docs = parse_yaml("{\"project\": \"web\", \"pipelines\": []}").unwrap();
        assert_eq!(docs[0].0["project"], serde_json::json!("web"));
        let e = parse_yaml("project: a\nproject: b\n").unwrap_err();
        assert!(e.starts_with("2:"), "{e}");
    }

    #[test]
    fn interpolation_resolves_env_and_keeps_templates() {
        std::env::set_var("HOOKGATE_TEST_APPLY_VAR", "s3cret");
        let base = Path::new(".");
        assert_eq!(
            resolve("a ${env:HOOKGATE_TEST_APPLY_VAR} ${ref} $${env:X}", base).unwrap(),
            "a s3cret ${ref} $${env:X}"
        );
        let e = resolve("${env:HOOKGATE_TEST_APPLY_UNSET}", base).unwrap_err();
        assert_eq!(e, vec!["${env:HOOKGATE_TEST_APPLY_UNSET} is not set"]);
    }
}
