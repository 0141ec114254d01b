use clap::Parser;
use hookgate::cli::{self, Cli};
use hookgate::config::Settings;

fn main() {
    // Before any thread allocates.
    hookgate::memory::map_large_blocks_apart();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
        .block_on(run());
}

async fn run() {
    let args = Cli::parse();
    let settings = match Settings::load(args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hookgate: {e}");
            std::process::exit(2);
        }
    };
    hookgate::telemetry::init(&settings.log, settings.log_format);
    if let Err(e) = cli::run(args.command, settings).await {
        eprintln!("hookgate: {e:#}");
        std::process::exit(1);
    }
}
