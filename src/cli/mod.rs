//! The command line: `hookgate serve | worker | migrate | project create | token create | send |
//! test-hook | apply | diff | export | logs`.
//! Each command that talks to a server over HTTP has its own file beside this one.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::accounts::{create_project, create_token};
use crate::config::Settings;
use crate::domain::role::Role;
use crate::startup::Application;
use crate::store;

mod apply;
pub mod apply_file;
pub mod logs;
mod send;
mod test_hook;

/// hookgate: verify incoming webhooks, commit them as pipeline runs, run them, notify.
#[derive(Debug, Parser)]
#[command(name = "hookgate", version, about)]
pub struct Cli {
    /// Settings file (TOML). Default: ./hookgate.toml when present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, the ingest endpoint and the workers.
    Serve {
        /// Run the API and ingest only; leave runs to `hookgate worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run workers only (PostgreSQL scale-out: next to `serve --no-worker` processes).
    Worker,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Sign a JSON file the way a provider would and POST it to a hook URL (to test a setup).
    Send {
        /// The hook URL (`…/hooks/hk_…`).
        #[arg(long)]
        url: String,
        /// github, gitlab, bitbucket, gitea, stripe, shopify, slack, paddle, standard-webhooks or generic.
        #[arg(long, default_value = "github")]
        provider: String,
        /// The hook's secret (or set HOOKGATE_SEND_SECRET, which keeps it out of shell history).
        /// An empty secret is refused.
        #[arg(long, env = "HOOKGATE_SEND_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Send without a signature (for a hook with `requires_secret: false`).
        #[arg(long)]
        unsigned: bool,
        /// The event name sent in the provider's event header (e.g. push).
        #[arg(long)]
        event: Option<String>,
        /// The delivery id sent in the provider's delivery header; random when absent.
        #[arg(long)]
        delivery_id: Option<String>,
        /// The JSON payload file.
        file: PathBuf,
        /// Wait for the run the delivery started, print its log as it runs and its outcome, and
        /// exit non-zero unless it succeeded (needs --token).
        #[arg(long, requires = "token")]
        wait: bool,
        /// With --wait: the API server; default: the hook URL's scheme, host and port.
        #[arg(long, env = "HOOKGATE_SERVER")]
        server: Option<String>,
        /// With --wait: an API token that can read the run (or set HOOKGATE_TOKEN).
        #[arg(long, env = "HOOKGATE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Print a run's step logs; with --follow, stream them until the run ends (exits non-zero
    /// unless it succeeded).
    Logs {
        /// The run id (`run_…`).
        run: String,
        /// Stream the output live until the run is final.
        #[arg(long, short = 'f')]
        follow: bool,
        /// The API server.
        #[arg(long, env = "HOOKGATE_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// An API token that can read the run (or set HOOKGATE_TOKEN).
        #[arg(long, env = "HOOKGATE_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Show what a hook would do with a payload (verification, variables, filters), with
    /// nothing stored and nothing run.
    TestHook {
        /// The hook id (`hk_…`).
        hook: String,
        /// The JSON payload file.
        file: PathBuf,
        /// The event name, sent in the provider's event header (e.g. push).
        #[arg(long)]
        event: Option<String>,
        /// The hook's secret: sign the payload so the signature check runs too (or set
        /// HOOKGATE_SEND_SECRET). Without it only the rules are tested.
        #[arg(long, env = "HOOKGATE_SEND_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// The query string, without `?`.
        #[arg(long)]
        query: Option<String>,
        /// The hookgate server.
        #[arg(long, env = "HOOKGATE_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// An API token of the hook's project, member or above.
        #[arg(long, env = "HOOKGATE_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Converge the server to the documents in a file or folder (config as code; SPEC §8).
    Apply {
        #[command(flatten)]
        server: apply::ServerArgs,
        /// A YAML or JSON file (several documents: `---`), or a folder of them.
        #[arg(short = 'f', long = "file", required_unless_present = "schema")]
        file: Option<PathBuf>,
        /// Also delete what the file does not list, among the objects an apply created.
        #[arg(long)]
        prune: bool,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the document's JSON Schema and exit.
        #[arg(long)]
        schema: bool,
    },
    /// Print what `apply` would change.
    Diff {
        #[command(flatten)]
        server: apply::ServerArgs,
        /// A YAML or JSON file, or a folder of them.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Plan with --prune.
        #[arg(long)]
        prune: bool,
        /// Exit 2 when there are changes (0: none, 1: an error).
        #[arg(long)]
        exit_code: bool,
    },
    /// Print a project's pipelines, hooks and secret names as an apply document.
    Export {
        #[command(flatten)]
        server: apply::ServerArgs,
        /// The project (name or id).
        #[arg(long)]
        project: String,
        /// yaml or json.
        #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
        output: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project; prints its id.
    Create { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints it once, alone on the last line.
    Create {
        /// The project (id or name). Not with --admin.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        project: Option<String>,
        /// owner, member or viewer.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        role: Option<String>,
        /// An instance admin token (manages projects; owner of every project).
        #[arg(long)]
        admin: bool,
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
    },
}

/// Runs a parsed command with loaded settings.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Send {
            url,
            provider,
            secret,
            unsigned,
            event,
            delivery_id,
            file,
            wait,
            server,
            token,
        } => {
            let answer = send::send(
                &url,
                &provider,
                secret.as_deref(),
                unsigned,
                event.as_deref(),
                delivery_id,
                &file,
            )
            .await?;
            if wait {
                let api = logs::ApiTarget {
                    server: server.unwrap_or_else(|| origin_of(&url)),
                    token: token.unwrap_or_default(),
                };
                logs::wait_for_answer(&api, &answer).await?;
            }
        }
        Command::TestHook {
            hook,
            file,
            event,
            secret,
            query,
            server,
            token,
        } => {
            test_hook::test_hook(test_hook::TestHook {
                server: &server,
                token: &token,
                hook: &hook,
                file: &file,
                event: event.as_deref(),
                secret: secret.as_deref(),
                query: query.as_deref(),
            })
            .await?
        }
        Command::Apply { schema: true, .. } => apply::print_schema()?,
        Command::Apply {
            server,
            file,
            prune,
            dry_run,
            ..
        } => {
            let file = file.context("give -f FILE|DIR")?;
            apply::apply(&server, &file, dry_run, prune).await?;
        }
        Command::Diff {
            server,
            file,
            prune,
            exit_code,
        } => {
            let drift = apply::apply(&server, &file, true, prune).await?;
            if exit_code && drift == apply::Drift::Changes {
                std::process::exit(2);
            }
        }
        Command::Export {
            server,
            project,
            output,
        } => apply::export(&server, &project, &output).await?,
        Command::Logs {
            run,
            follow,
            server,
            token,
        } => logs::logs(&logs::ApiTarget { server, token }, &run, follow).await?,
        Command::Worker => crate::startup::run_workers_only(settings).await?,
        Command::Serve { no_worker } => {
            Application::build(settings, !no_worker)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate => {
            let store = store::connect(&settings).await?;
            println!("migrated the {} database", store.backend());
        }
        Command::Project(ProjectCommand::Create { name }) => {
            let store = store::connect(&settings).await?;
            let project = create_project(store.as_ref(), &name)
                .await
                .context("creating the project")?;
            println!("{}", project.id);
        }
        Command::Token(TokenCommand::Create {
            project,
            role,
            admin,
            name,
        }) => {
            let store = store::connect(&settings).await?;
            let (project_id, role) = if admin {
                (None, Role::Admin)
            } else {
                let wanted = project.unwrap_or_default();
                let found = match store.get_project(&wanted).await? {
                    Some(p) => Some(p),
                    None => store.get_project_by_name(&wanted).await?,
                };
                let Some(p) = found else {
                    bail!("no project with id or name {wanted:?}")
                };
                let role = role.unwrap_or_default();
                match Role::parse(&role) {
                    Some(r) if r != Role::Admin => (Some(p.id), r),
                    _ => bail!("--role must be owner, member or viewer"),
                }
            };
            let (row, token) =
                create_token(store.as_ref(), project_id.as_deref(), role, &name).await?;
            println!(
                "created {} token {} ({}); it is shown once:",
                row.role, row.id, row.name
            );
            println!("{}", token.expose_secret());
        }
    }
    Ok(())
}

/// `http://host:port` of a URL (everything before its path).
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_string(),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_drops_the_path() {
        assert_eq!(
            super::origin_of("https://hooks.example.com:8443/hooks/hk_1"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(super::origin_of("http://h"), "http://h");
    }
}
