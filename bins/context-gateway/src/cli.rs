//! The command line: `serve`, `index`, `search`, `changes`, `cat`, `sign`, `check-config`
//! (docs/API.md).
//!
//! Precedence: flags > environment > config file > defaults.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use clap::{Parser, Subcommand, ValueEnum};
use indexer::FsManifestStore;
use search::SearchIndex;
use webhook_core::ProviderId;

use crate::app::App;
use gateway_config::{Config, Overrides};

/// Boxed errors carry their own messages to the user; every source names what to do.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "context-gateway",
    version,
    about = "Keep a searchable, chunked index of Git repositories in sync with every push."
)]
pub struct Args {
    /// Log format: human-readable lines or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CONTEXT_GATEWAY_LOG_FORMAT",
        default_value = "human"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: webhooks, jobs, workers, search.
    Serve {
        #[arg(long, env = "CONTEXT_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "CONTEXT_GATEWAY_LISTEN")]
        listen: Option<String>,
        #[arg(long, env = "CONTEXT_GATEWAY_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Incrementally index a local tree into the store `serve` uses.
    Index {
        path: PathBuf,
        /// Repo name to index under (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Ref to index under (default: the checkout's branch, else refs/heads/main).
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// Re-read every file instead of trusting the stat cache.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        store: Store,
        /// Print one JSON line instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Query the index.
    Search {
        query: String,
        #[arg(long)]
        repo: Option<String>,
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// Path prefix or glob.
        #[arg(long)]
        path: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// One hit per file, with the file's other matching chunks attached.
        #[arg(long)]
        group_by_file: bool,
        /// How QUERY is matched: ranked words, a literal substring, or a regex.
        #[arg(long, value_enum, default_value_t = SearchMode::Lexical)]
        mode: SearchMode,
        /// Literal and regex modes: ignore case.
        #[arg(long, short = 'i')]
        ignore_case: bool,
        #[command(flatten)]
        store: Store,
        /// Print the hits as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Print a ref's change feed from a running gateway as JSON lines (token: GATEWAY_TOKEN).
    Changes {
        #[arg(long)]
        repo: String,
        /// A branch (`main`) or a full ref name.
        #[arg(long = "ref")]
        git_ref: String,
        /// Start after this cursor; 0 starts with a snapshot of the ref's chunks.
        #[arg(long, default_value = "0")]
        since: String,
        /// Keep waiting for new entries instead of stopping once caught up.
        #[arg(long)]
        follow: bool,
        #[arg(
            long,
            env = "CONTEXT_GATEWAY_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// Print a file at its indexed commit from a running gateway (token: GATEWAY_TOKEN).
    Cat {
        repo: String,
        path: String,
        /// A branch (`main`) or a full ref name; needed when the repo has several indexed refs.
        #[arg(long = "ref")]
        git_ref: Option<String>,
        #[arg(
            long,
            env = "CONTEXT_GATEWAY_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// Print the headers a provider would send for the body on stdin.
    Sign {
        /// github, gitlab, gitea, bitbucket or azure-devops.
        #[arg(long)]
        provider: ProviderId,
        /// The secret (HMAC key, token, whsec_ signing secret or user:password).
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Validate a config file and say precisely what is wrong.
    CheckConfig {
        #[arg(long, env = "CONTEXT_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// The data dir of `index` and `search`: `--data-dir`, else the config file's.
#[derive(Debug, clap::Args)]
struct Store {
    #[arg(long, env = "CONTEXT_GATEWAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "CONTEXT_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
}

impl Store {
    fn data_dir(self) -> Result<PathBuf, CliError> {
        if let Some(dir) = self.data_dir {
            return Ok(dir);
        }
        let overrides = Overrides::with_env(None, None);
        Ok(Config::load_or_empty(self.config.as_deref(), &overrides)?.data_dir)
    }
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let quiet = !matches!(args.command, Command::Serve { .. });
    init_logging(args.log_format, quiet);
    match args.command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => serve(config, listen, data_dir),
        Command::Index {
            path,
            name,
            git_ref,
            full,
            store,
            json,
        } => {
            let data_dir = store.data_dir()?;
            let target = pipeline::LocalTarget::resolve(&path, name, git_ref)?;
            index(target, full, &data_dir, json)
        }
        Command::Search {
            query,
            repo,
            git_ref,
            path,
            limit,
            group_by_file,
            mode,
            ignore_case,
            store,
            json,
        } => {
            let data_dir = store.data_dir()?;
            let query = search::Query {
                text: query,
                repo,
                git_ref,
                path,
                limit,
                group: if group_by_file {
                    search::Grouping::File
                } else {
                    search::Grouping::Chunk
                },
                mode: match mode {
                    SearchMode::Lexical => search::Mode::Lexical,
                    SearchMode::Literal => search::Mode::Literal,
                    SearchMode::Regex => search::Mode::Regex,
                },
                case_sensitive: !ignore_case,
                budget: None,
            };
            search_cli(&query, &data_dir, json)
        }
        Command::Changes {
            repo,
            git_ref,
            since,
            follow,
            url,
        } => {
            let mut out = std::io::stdout().lock();
            let gateway = gateway_client(&url)?;
            client::block_on(gateway.write_changes(&repo, &git_ref, &since, follow, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cat {
            repo,
            path,
            git_ref,
            url,
        } => {
            let (gateway, mut out) = (gateway_client(&url)?, std::io::stdout().lock());
            let cat = gateway.cat(&repo, &path, git_ref.as_deref(), &mut out);
            if let Some(gaps) = client::block_on(cat)? {
                eprintln!("note: lines withheld for holding secrets: {gaps}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { provider, secret } => sign(provider, secret),
        Command::CheckConfig { config } => check_config(config),
    }
}

/// `changes` and `cat`: a client of the gateway at `--url`, with `GATEWAY_TOKEN`.
fn gateway_client(url: &str) -> Result<client::Client, CliError> {
    let token = std::env::var("GATEWAY_TOKEN").ok();
    client::Client::new(url, token).map_err(|e| format!("--url {e}").into())
}

fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    // tantivy logs three info lines per commit (metas saved, garbage collection): noise
    // for an operator, so it starts at warn unless RUST_LOG says otherwise.
    let default = if quiet { "warn" } else { "info,tantivy=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

fn serve(
    config_path: Option<PathBuf>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    // Before any thread starts and any file is made: everything under the data dir is the
    // operator's alone.
    pipeline::data_dir::restrict_umask();
    let overrides = Overrides::with_env(listen, data_dir);
    let config = Config::load_or_empty(config_path.as_deref(), &overrides)?;
    let token = config.gateway_token(std::env::var_os("GATEWAY_TOKEN"))?;
    if token.is_none() {
        tracing::warn!(
            "GATEWAY_TOKEN is not set: the management API, /search, the read API (/changes, \
             /repos, /tree, /files) and /metrics are OPEN to every local client (any user or \
             process on this host); requests that came through a proxy are refused. Set \
             GATEWAY_TOKEN to require a bearer token"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let local = listener.local_addr()?;
        let app = Arc::new(App::open(config, token).await?);
        for org in &app.config.orgs {
            if org.repo.secrets.is_empty() {
                tracing::warn!(owner = %org.owner, provider = %org.provider, "no webhook secret configured for this org: every delivery to its hook will be rejected");
            }
        }
        for repo in &app.config.repos {
            if repo.secrets.is_empty() {
                tracing::warn!(repo = %repo.spec.name, "no webhook secret configured: every delivery for this repo will be rejected (set secret, secret_env or WEBHOOK_SECRET)");
            }
        }
        let background = app.background.clone();
        pipeline::background::enqueue_catch_up(&background).await;
        let workers = pipeline::background::spawn_workers(background.clone());
        let cleanup = pipeline::background::spawn_cleanup(background.clone());
        let reconcile = pipeline::background::spawn_reconcile(background);
        // Scripts and tests read this line to learn the port when listening on :0.
        println!("listening on http://{local}");
        tracing::info!(%local, repos = app.config.repos.len(), workers = app.config.workers, "context-gateway serving");
        let server = tokio::spawn(crate::http::serve(app.clone(), listener));
        pipeline::stop_requested().await;
        tracing::info!("shutdown requested: refusing new webhooks, draining requests, parking running jobs");
        app.begin_shutdown();
        let _ = server.await;
        for worker in workers {
            let _ = worker.await;
        }
        let _ = cleanup.await;
        for task in reconcile {
            let _ = task.await;
        }
        app.jobs.flush().await?;
        tracing::info!("storage flushed; bye");
        Ok::<_, CliError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn index(
    target: pipeline::LocalTarget,
    full: bool,
    data_dir: &Path,
    json: bool,
) -> Result<ExitCode, CliError> {
    pipeline::data_dir::restrict_umask();
    pipeline::data_dir::ensure_private_logged(data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let sink = feed::Tee {
        first: Arc::new(SearchIndex::open(&data_dir.join("search"))?),
        second: Arc::new(feed::FeedStore::open(
            &data_dir.join("feed"),
            feed::Retention::default(),
        )?),
    };
    let manifests = FsManifestStore::new(data_dir.join("manifests"))?;
    let run = target.index(full, &sink, &manifests)?;
    if json {
        println!("{}", api_json::local_run_json(&run));
    } else {
        print!("{run}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `search --mode`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SearchMode {
    Lexical,
    Literal,
    Regex,
}

fn search_cli(query: &search::Query, data_dir: &Path, json: bool) -> Result<ExitCode, CliError> {
    let dir = data_dir.join("search");
    if !dir.exists() {
        return Err(format!(
            "no index at {}: run `context-gateway index PATH` or `serve` first",
            dir.display()
        )
        .into());
    }
    let index = SearchIndex::open_read_only(&dir)?;
    let results = match index.search(query) {
        Ok(results) => results,
        Err(search::Error::BadQuery { reason }) => {
            return Err(format!("bad query: {reason}").into());
        }
        Err(error) => return Err(error.into()),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&api_json::hits_json(&results, query))?
        );
    } else {
        print!("{results}");
    }
    Ok(ExitCode::SUCCESS)
}

fn sign(provider: ProviderId, secret: String) -> Result<ExitCode, CliError> {
    let secret = webhook_core::Secret::try_from(secret)?;
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let headers = provider.sign(&secret, &body, SystemTime::now())?;
    for (name, value) in headers {
        println!("{name}: {value}");
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(path: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let Some(path) = path else {
        return Err(
            "no config file given: pass --config FILE or set CONTEXT_GATEWAY_CONFIG".into(),
        );
    };
    match Config::load(&path, &Overrides::with_env(None, None)) {
        Ok(config) => {
            println!("{}", config.summary(&path));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::from(2))
        }
    }
}
