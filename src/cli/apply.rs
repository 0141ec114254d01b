//! `hookgate apply | diff | export` (SPEC §8): the CLI reads documents, resolves their
//! `${env:…}`/`${file:…}`, and talks to a running server over the API, like kubectl or
//! terraform. It never needs the database.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

use super::apply_file::{load, Source};

/// Where the server is and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The hookgate server.
    #[arg(long, env = "HOOKGATE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token: an admin token, or the owner token of the document's project.
    #[arg(long, env = "HOOKGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ServerArgs {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.trim_end_matches('/'))
    }

    fn token(&self) -> anyhow::Result<&str> {
        self.token
            .as_deref()
            .context("give a token: --token or HOOKGATE_TOKEN")
    }
}

/// The outcome of `diff`, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    None,
    Changes,
}

/// Sends the documents of `file` to `POST /apply`; prints the plan and, when applied, the
/// secrets generated (once). Returns whether anything changes.
pub async fn apply(
    server: &ServerArgs,
    file: &Path,
    dry_run: bool,
    prune: bool,
) -> anyhow::Result<Drift> {
    let sources = load(file)?;
    let body = Value::Array(sources.iter().map(|s| s.value.clone()).collect());
    let request = reqwest::Client::new()
        .post(server.url("/apply"))
        .query(&[("dry_run", dry_run), ("prune", prune)])
        .json(&body);
    let answer = send(server, request, &sources).await?;
    print_plan(&answer);
    let s = &answer["summary"];
    let changes = ["create", "update", "delete"]
        .iter()
        .any(|k| s[*k].as_u64().unwrap_or(0) > 0);
    Ok(if changes { Drift::Changes } else { Drift::None })
}

/// Sends `request` with the token; the JSON answer, or an error explaining a non-2xx one.
async fn send(
    server: &ServerArgs,
    request: reqwest::RequestBuilder,
    sources: &[Source],
) -> anyhow::Result<Value> {
    let response = request
        .bearer_auth(server.token()?)
        .send()
        .await
        .with_context(|| format!("sending to {}", server.server))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{}", explain(status.as_u16(), &answer, sources));
    }
    Ok(answer)
}

/// Explains an error answer, naming each bad field by file, line and place.
fn explain(status: u16, answer: &Value, sources: &[Source]) -> String {
    let mut out = format!(
        "the server answered {status} {}: {}\nnothing was applied",
        answer["error"].as_str().unwrap_or("error"),
        answer["message"].as_str().unwrap_or("")
    );
    for d in answer["details"].as_array().into_iter().flatten() {
        let field = d["field"].as_str().unwrap_or("");
        let (doc, path) = split_document(field, sources.len());
        let place = sources
            .get(doc)
            .map(|s| format!("{}: ", s.place(path)))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  {place}{path}: {}",
            d["problem"].as_str().unwrap_or("")
        ));
    }
    out
}

/// `documents[2].pipelines[0].name` → (2, `pipelines[0].name`); a single document has no prefix.
fn split_document(field: &str, documents: usize) -> (usize, &str) {
    if documents > 1 {
        if let Some(rest) = field.strip_prefix("documents[") {
            if let Some((n, path)) = rest.split_once(']') {
                if let Ok(i) = n.parse() {
                    return (i, path.trim_start_matches('.'));
                }
            }
        }
    }
    (0, field)
}

fn print_plan(answer: &Value) {
    for project in answer["projects"].as_array().into_iter().flatten() {
        println!("project {}", project["project"].as_str().unwrap_or(""));
        for c in project["changes"].as_array().into_iter().flatten() {
            let action = c["action"].as_str().unwrap_or("");
            let sign = match action {
                "create" => "+",
                "update" => "~",
                "delete" => "-",
                "kept" => "!",
                _ => continue,
            };
            let mut line = format!("  {sign} {} ", c["kind"].as_str().unwrap_or(""));
            if let Some(p) = c["pipeline"].as_str() {
                line.push_str(&format!("{p}/"));
            }
            line.push_str(c["name"].as_str().unwrap_or(""));
            if let Some(f) = c["fields"].as_array().filter(|f| !f.is_empty()) {
                let names: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
                line.push_str(&format!(" (changes {})", names.join(", ")));
            }
            if let Some(u) = c["url"].as_str().filter(|_| action == "create") {
                line.push_str(&format!(" {u}"));
            }
            if let Some(s) = c["secret"].as_str() {
                line.push_str(&format!(" secret {s}"));
            }
            if let Some(n) = c["note"].as_str() {
                line.push_str(&format!(": {n}"));
            }
            println!("{line}");
        }
    }
    let s = &answer["summary"];
    let verb = if answer["dry_run"].as_bool() == Some(true) {
        "Plan"
    } else {
        "Applied"
    };
    println!(
        "{verb}: {} ({} unchanged, {} kept).",
        answer["message"].as_str().unwrap_or(""),
        s["unchanged"],
        s["kept"]
    );
    let secrets = answer["generated_secrets"].as_array();
    if let Some(list) = secrets.filter(|l| !l.is_empty()) {
        println!("Generated secrets, shown this once (store them now):");
        for g in list {
            println!(
                "  {}/{} {} {}\n    secret: {}",
                g["pipeline"].as_str().unwrap_or(""),
                g["name"].as_str().unwrap_or(""),
                g["id"].as_str().unwrap_or(""),
                g["url"].as_str().unwrap_or(""),
                g["secret"].as_str().unwrap_or("")
            );
        }
    }
}

/// Prints the project's state as a document (`yaml` or `json`), secrets as placeholders.
pub async fn export(server: &ServerArgs, project: &str, format: &str) -> anyhow::Result<()> {
    let request = reqwest::Client::new().get(server.url(&format!("/projects/{project}/export")));
    let answer = send(server, request, &[]).await?;
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&answer)?),
        _ => print!("{}", to_yaml(&answer)?),
    }
    Ok(())
}

/// A document as YAML, with a header saying how secrets are written.
pub fn to_yaml(doc: &Value) -> anyhow::Result<String> {
    let mut out = String::from(
        "# hookgate export: secrets are ${env:…} placeholders; set those variables (or drop\n\
         # the lines of secrets you do not manage here) before applying this file.\n",
    );
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    emitter
        .dump(&yaml_of(doc))
        .map_err(|e| anyhow::anyhow!("writing YAML: {e:?}"))?;
    out.push('\n');
    Ok(out)
}

fn yaml_of(v: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(yaml_of).collect()),
        Value::Object(m) => Yaml::Hash(
            m.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), yaml_of(v)))
                .collect(),
        ),
    }
}

/// The schema, for `hookgate apply --schema`.
pub fn print_schema() -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(crate::apply::schema::apply_schema())?
    );
    Ok(())
}
