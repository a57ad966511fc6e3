//! `claims`: the claims engine's command line.

use anyhow::Context;
use claims::bench::store::{Backend, DEFAULT_DATABASE_URL, StoreBenchOptions};
use claims::config::{LogFormat, ServeSettings};
use claims::replay::ReplayTarget;
use claims_domain::WalletAddress;
use clap::{Parser, Subcommand};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system's allocator: at a steady load glibc's malloc and free
/// were an eighth of the engine's processor time, and mimalloc took 7% off the engine's
/// time per claim in every round measured (`docs/benchmarks.md`, "One runtime thread").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An event-sourced health insurance claims engine with smart-contract settlement.
#[derive(Debug, Parser)]
#[command(name = "claims", version, about)]
struct Cli {
    /// Log as JSON lines instead of text (the same as `--log-format json`).
    #[arg(long, global = true, env = "CLAIMS_LOG_JSON")]
    log_json: bool,

    /// `text` or `json`; for `serve`, overrides the configuration's `log_format`.
    #[arg(long, global = true)]
    log_format: Option<String>,

    /// Threads that run the engine's tasks: by default one per core; 1 runs everything on
    /// one thread, which costs less processor time per claim on a machine shared with
    /// PostgreSQL and nats-server (docs/operations.md).
    #[arg(long, global = true, env = "CLAIMS_THREADS")]
    threads: Option<NonZeroUsize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the example claims through the whole engine in one process (embedded SQLite,
    /// in-process bus, embedded EVM) and prints what happened.
    Demo {
        /// The examples directory (reference-data.toml, rules/ and claims/*.json); by
        /// default `examples/` here, else the one of the repository this binary was built
        /// from.
        #[arg(long)]
        examples: Option<PathBuf>,
        /// Keep the event log in this SQLite file instead of a temporary one.
        #[arg(long)]
        database: Option<PathBuf>,
    },
    /// Drops the read models (claim status, provider remittances, member accumulators) and
    /// rebuilds them from the whole event log, with a progress bar.
    Replay {
        #[command(flatten)]
        store: StoreArgs,
        /// Do not draw the progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Runs the chosen roles of the engine (every one by default) until SIGINT or SIGTERM.
    /// Settings come from `--config FILE` (TOML), then `CLAIMS_*` environment variables,
    /// then these flags; nothing configured means an SQLite file, the in-process bus and
    /// the embedded EVM. See docs/operations.md.
    Serve {
        /// A TOML configuration file (keys: roles, database, database_url,
        /// database_schema, nats_url, stream, nats_namespace, nats_user, nats_password, nats_token,
        /// nats_credentials, adjudicators, intakes, notifiers, queue_batch, ack_wait_secs,
        /// queue_linger_ms, folded_streams, listen, log_level, log_format, and for a real
        /// chain rpc_url, settlement_contract, settlement_token, settlement_from_block,
        /// settler_key_file, settler_keystore, confirmations, confirmation_timeout_secs,
        /// replace_after_secs, poll_interval_ms, batch_size, batch_wait_ms, claim_cap,
        /// daily_cap).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The roles to run: intake, relay, adjudicator, settler, outcomes, api.
        #[arg(long, value_delimiter = ',')]
        role: Option<Vec<String>>,
        /// The NATS server, such as nats://127.0.0.1:4222 (else the in-process bus).
        #[arg(long)]
        nats_url: Option<String>,
        /// The JetStream stream that keeps the engine's subjects (default CLAIMS).
        #[arg(long)]
        stream: Option<String>,
        /// A prefix for every engine subject on the wire (`staging` makes
        /// `staging.claims.submit.acme`), to share a NATS server with another engine.
        #[arg(long)]
        nats_namespace: Option<String>,
        /// The engine's NATS user; its password comes from CLAIMS_NATS_PASSWORD or the
        /// file's nats_password, never from a flag (other users could read it in `ps`).
        #[arg(long)]
        nats_user: Option<String>,
        /// A NATS .creds file (user JWT and NKey seed) to connect with.
        #[arg(long)]
        nats_credentials: Option<PathBuf>,
        /// The SQLite event store, created if missing (default claims.db).
        #[arg(long)]
        database: Option<PathBuf>,
        /// A PostgreSQL event store, such as postgres://claims@db:5432/claims.
        #[arg(long)]
        database_url: Option<String>,
        /// The PostgreSQL schema of the log and read models (created if missing).
        #[arg(long)]
        database_schema: Option<String>,
        /// Adjudication workers in this process (default 2).
        #[arg(long)]
        adjudicators: Option<usize>,
        /// Where to serve HTTP: the API with the api role (default 127.0.0.1:8080), else
        /// only this process's health, readiness and gauges (none unless set).
        #[arg(long)]
        listen: Option<String>,
        /// Settle on the chain at this JSON-RPC endpoint instead of the embedded EVM.
        #[arg(long)]
        rpc_url: Option<String>,
        /// The settlement contract on that chain.
        #[arg(long)]
        settlement_contract: Option<String>,
        /// A file holding the settler's private key as hex (else CLAIMS_SETTLER_KEY).
        #[arg(long, conflicts_with = "settler_keystore")]
        settler_key_file: Option<PathBuf>,
        /// An encrypted keystore holding the settler's key (password in
        /// CLAIMS_KEYSTORE_PASSWORD).
        #[arg(long)]
        settler_keystore: Option<PathBuf>,
        /// Blocks, the including one counted, before a batch is recorded as paid (default 3).
        #[arg(long)]
        confirmations: Option<u64>,
        /// Claims per payout batch at most (default 100).
        #[arg(long)]
        batch_size: Option<usize>,
    },
    /// Submits claim files to the engine over NATS as an insurer (native JSON or FHIR R4
    /// `Claim`, told apart by content) and prints the engine's answer to each. Exits with
    /// an error if any was rejected or not answered in time.
    Submit {
        /// The claim files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The NATS server.
        #[arg(long, env = "CLAIMS_NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// The insurer submitting: claims go to claims.submit.<insurer>.
        #[arg(long, env = "CLAIMS_INSURER")]
        insurer: String,
        /// The subject namespace the engine runs under, if any (`claims serve
        /// --nats-namespace`).
        #[arg(long, env = "CLAIMS_NATS_NAMESPACE")]
        nats_namespace: Option<String>,
        #[command(flatten)]
        credentials: NatsCredentialArgs,
        /// Also wait for each new claim's decision (its ClaimResponse on
        /// claims.outcome.<insurer>), or for a void the voided claim's cancellation, and
        /// print it.
        #[arg(long)]
        wait_decision: bool,
        /// How long to wait for every answer and decision, in seconds.
        #[arg(long, default_value = "60", value_parser = parse_seconds)]
        timeout: Duration,
    },
    /// Writes a nats-server configuration with one user per insurer, each allowed to
    /// publish and hear only its own subjects, and one for the engine, with a password file
    /// per user (existing ones are kept). See docs/operations.md.
    NatsConfig {
        /// The directory to write nats-server.conf, claims-account.conf (the account and
        /// its users, which nats-server.conf includes) and users/<user>.password into.
        #[arg(long)]
        out: PathBuf,
        /// An insurer (repeat for each).
        #[arg(long = "insurer", required = true)]
        insurers: Vec<String>,
        /// Where the server listens.
        #[arg(long, default_value = "0.0.0.0:4222")]
        listen: String,
        /// JetStream's storage directory (default <out>/jetstream).
        #[arg(long)]
        store_dir: Option<PathBuf>,
        /// The engine's user name (under a namespace, after `<namespace>.`, as every user's).
        #[arg(long, default_value = claims::nats_access::DEFAULT_ENGINE_USER)]
        engine_user: String,
        /// The subject namespace the engine runs under, if any (`claims serve
        /// --nats-namespace`): every user's subjects are permitted under it, as they travel
        /// on the wire (inboxes and JetStream's `$JS.…` keep their names), in an account of
        /// its own (`CLAIMS-<namespace>`) with users named `<namespace>.<name>`, so that
        /// engines under different namespaces can share one server.
        #[arg(long)]
        nats_namespace: Option<String>,
    },
    /// Prints a claim's status, amounts, payout and event timeline.
    Status {
        /// The engine's claim id (a UUID, as intake answered it).
        claim: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Plans, members and providers.
    Reference {
        #[command(subcommand)]
        command: ReferenceCommand,
    },
    /// The plans' parameters as versioned rule sets (a directory of TOML and CSV files;
    /// see examples/rules/).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Compares the claims in the settlement contract's BatchSettled logs with the event store and reports
    /// every claim paid twice, paid but not recorded, recorded but not on chain, or approved
    /// and never paid. Exits with an error if there is any.
    Reconcile {
        #[command(flatten)]
        store: StoreArgs,
        /// The chain's JSON-RPC endpoint.
        #[arg(long, env = "CLAIMS_RPC_URL")]
        rpc_url: String,
        /// A PEM file of CA certificates to trust for an https:// endpoint besides the
        /// platform's roots.
        #[arg(long, env = "CLAIMS_RPC_CA_FILE")]
        rpc_ca_file: Option<PathBuf>,
        /// The settlement contract.
        #[arg(long, env = "CLAIMS_SETTLEMENT_CONTRACT")]
        contract: WalletAddress,
        /// The block the contract was deployed in (logs are read from there).
        #[arg(long, env = "CLAIMS_SETTLEMENT_FROM_BLOCK", default_value_t = 0)]
        from_block: u64,
    },
    /// Operates the settlement contract on a chain over JSON-RPC.
    Contract {
        #[command(subcommand)]
        command: ContractCommand,
    },
    /// Lists the messages the engine's work queues gave up on, and requeues them once the
    /// cause is fixed (NATS only: the in-process bus keeps no dead letters).
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Measures parts of the engine and prints a table, then one JSON line.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// The event store a command works on: an SQLite file or a PostgreSQL database.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// The embedded event store: an SQLite file.
    #[arg(
        long,
        conflicts_with = "database_url",
        required_unless_present = "database_url"
    )]
    database: Option<PathBuf>,
    /// A PostgreSQL event store, such as postgres://claims@db:5432/claims.
    #[arg(long, env = "CLAIMS_DATABASE_URL")]
    database_url: Option<String>,
    /// The PostgreSQL schema of the log and read models (the one `claims serve` was given).
    #[arg(long, env = "CLAIMS_DATABASE_SCHEMA", requires = "database_url")]
    database_schema: Option<String>,
}

impl StoreArgs {
    /// The database for the engine's own opening (an SQLite file is created if missing).
    fn database(self) -> anyhow::Result<claims::engine::Database> {
        match (self.database, self.database_url) {
            (Some(path), _) => Ok(claims::engine::Database::File(path)),
            (None, Some(url)) => Ok(claims::engine::Database::Postgres {
                url,
                schema: self.database_schema,
            }),
            (None, None) => anyhow::bail!("name the event store: --database or --database-url"),
        }
    }

    /// The store to read, which must already exist.
    fn existing(self) -> anyhow::Result<ReplayTarget> {
        match (self.database, self.database_url) {
            (Some(path), _) => Ok(ReplayTarget::Sqlite(path)),
            (None, Some(url)) => Ok(ReplayTarget::Postgres {
                url,
                schema: self.database_schema,
            }),
            (None, None) => anyhow::bail!("name the event store: --database or --database-url"),
        }
    }
}

/// How a NATS client authenticates: a user (password from the environment), a token
/// (from the environment) or a .creds file. Secrets never come from flags, which other
/// users can read in `ps`.
#[derive(Debug, clap::Args)]
struct NatsCredentialArgs {
    /// The NATS user; its password comes from CLAIMS_NATS_PASSWORD.
    #[arg(long, env = "CLAIMS_NATS_USER")]
    nats_user: Option<String>,
    /// A NATS .creds file (user JWT and NKey seed).
    #[arg(long, env = "CLAIMS_NATS_CREDENTIALS")]
    nats_credentials: Option<PathBuf>,
}

impl NatsCredentialArgs {
    fn resolve(self) -> anyhow::Result<claims_adapters::bus::NatsCredentials> {
        let secret = |name: &str| std::env::var(name).ok().map(claims::config::Secret::from);
        Ok(claims::config::nats_credentials(
            self.nats_user,
            secret("CLAIMS_NATS_PASSWORD"),
            secret("CLAIMS_NATS_TOKEN"),
            self.nats_credentials,
        )?)
    }
}

#[derive(Debug, Subcommand)]
enum ReferenceCommand {
    /// Stores the plans, members and providers of a TOML file (the shape of
    /// examples/reference-data.toml) as events; entries already stored as given store
    /// nothing.
    Load {
        /// The reference-data file.
        file: PathBuf,
        /// Store the entries on behalf of this insurer, which may then change them over
        /// the bus (claims.reference.<insurer>); without it they are the operator's, and
        /// no insurer may change them.
        #[arg(long)]
        insurer: Option<claims_domain::InsurerId>,
        // Where to store them (an SQLite file is created if missing).
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Checks a rule set's files and stores the version (the rule set and a new revision
    /// of each of its plans) as events, in force from now on. A bad file stores nothing and
    /// is named with its line and column.
    Load {
        /// The rule set's directory (with rule-set.toml).
        directory: PathBuf,
        /// Store the version on behalf of this insurer, which may then send later
        /// versions over the bus; without it the rule set and its plans are the
        /// operator's.
        #[arg(long)]
        insurer: Option<claims_domain::InsurerId>,
        // Where to store it (an SQLite file is created if missing).
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Checks a rule set's files without storing anything.
    Check {
        /// The rule set's directory (with rule-set.toml).
        directory: PathBuf,
    },
    /// Decides a stored claim again with the rule-set version and the inputs its decision
    /// recorded, and says whether the result is the same. Stores nothing.
    Replay {
        /// The engine's claim id.
        claim: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Deploys ClaimsSettlement (and, without --token, a mock 6-decimal stablecoin holding
    /// the float) and prints the addresses. The deployer's key comes from
    /// CLAIMS_SETTLER_KEY, --key-file or --keystore and is never printed.
    Deploy(claims::contract::DeployOptions),
    /// Pauses the contract: every batch and withdrawal is refused until the admin unpauses
    /// it. Signed by the pauser (key from CLAIMS_SETTLER_KEY, --key-file or --keystore),
    /// simulated first, awaited to --confirmations; prints the transaction.
    Pause(claims::contract::TransactOptions),
    /// Unpauses the contract; the settler pays every open batch on its next retry. Signed
    /// by the admin, as `pause`.
    Unpause(claims::contract::TransactOptions),
    /// Prints whether the contract is paused, its caps and what today's cap still allows,
    /// its float and what it owes providers, and who holds each role. Needs no key.
    Status {
        #[command(flatten)]
        options: claims::contract::StatusOptions,
        /// Print one JSON object instead (amounts in token base units).
        #[arg(long)]
        json: bool,
    },
}

/// The engine's stream on a NATS server.
#[derive(Debug, clap::Args)]
struct EngineStreamArgs {
    /// The NATS server.
    #[arg(long, env = "CLAIMS_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The JetStream stream `claims serve` keeps.
    #[arg(long, env = "CLAIMS_STREAM", default_value = claims::engine::BusChoice::DEFAULT_STREAM)]
    stream: String,
    /// The subject namespace `claims serve` runs under, if any.
    #[arg(long, env = "CLAIMS_NATS_NAMESPACE")]
    nats_namespace: Option<String>,
    #[command(flatten)]
    credentials: NatsCredentialArgs,
}

impl EngineStreamArgs {
    fn config(self) -> anyhow::Result<claims_adapters::bus::NatsBusConfig> {
        let credentials = self.credentials.resolve()?;
        let mut config =
            claims::dead_letters::bus_config(&self.nats_url, &self.stream, credentials);
        config.namespace = self
            .nats_namespace
            .map(claims::config::namespace)
            .transpose()?;
        Ok(config)
    }
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// Prints each dead letter on one line: its stream sequence, queue, original subject,
    /// when it was dead-lettered, deliveries and reason.
    List {
        #[command(flatten)]
        nats: EngineStreamArgs,
        /// Only this queue's (intake, reference, reviews, adjudication, settlement,
        /// outcomes-decided, outcomes-paid, outcomes-cancelled).
        #[arg(long)]
        queue: Option<String>,
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
    /// Republishes dead letters of a queue to their original subjects with their original
    /// headers, then deletes them from the stream: the engine processes each once more.
    /// Exits with an error if any could not be requeued.
    Requeue {
        #[command(flatten)]
        nats: EngineStreamArgs,
        /// The queue whose dead letters these are.
        #[arg(long)]
        queue: String,
        /// A dead letter's stream sequence, as `list` prints it (repeat for each).
        #[arg(long = "seq", required_unless_present = "all", conflicts_with = "all")]
        sequences: Vec<u64>,
        /// Every dead letter of the queue.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Measures the event store: appends at 1, 10 and 100 events per commit with 1 and 16
    /// writers, next to the raw PostgreSQL insert ceiling for the same rows, then replay.
    Store {
        /// The store to measure: a fresh schema on PostgreSQL (dropped at the end), or a
        /// temporary SQLite file.
        #[arg(long, value_enum, default_value_t = Backend::Postgres)]
        backend: Backend,
        /// The PostgreSQL server.
        #[arg(long, env = "CLAIMS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
        /// Each case's measured window, in seconds (fractions allowed).
        #[arg(long, default_value = "5", value_parser = parse_seconds)]
        seconds: Duration,
        /// Each case's warm-up before the window, in seconds (fractions allowed).
        #[arg(long, default_value = "1", value_parser = parse_seconds)]
        warmup_seconds: Duration,
        /// Events per read during replay.
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
    },
    /// Measures the whole engine on PostgreSQL and NATS as an insurer sees it: claims
    /// published to claims.submit.<insurer>, decided and announced on
    /// claims.outcome.<insurer>. First claims/s sustained, then submit → decision latency
    /// at a fixed rate. Uses a fresh schema, stream and subject namespace, removed at the end.
    E2e {
        /// The NATS server (JetStream enabled).
        #[arg(long, env = "CLAIMS_NATS_URL", default_value = claims::bench::e2e::DEFAULT_NATS_URL)]
        nats_url: String,
        /// The PostgreSQL server.
        #[arg(long, env = "CLAIMS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
        /// Claims in the sustained phase.
        #[arg(long, default_value_t = 20_000)]
        claims: usize,
        /// Claims per second in the open-loop phase.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        /// How long the open-loop phase publishes, in seconds (fractions allowed).
        #[arg(long, default_value = "10", value_parser = parse_seconds)]
        seconds: Duration,
        /// Adjudication workers (tasks in this process, or in each worker process). With
        /// batches, few tasks keep up and more only contend for the cores
        /// (docs/benchmarks.md).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Adjudicate in this many separate `claims serve --role adjudicator` processes
        /// instead of in this one (0: workers are tasks here).
        #[arg(long, default_value_t = 0)]
        worker_processes: usize,
        /// Intake tasks (in this process).
        #[arg(long, default_value_t = 1)]
        intakes: usize,
        /// Outcome-notice tasks (in this process).
        #[arg(long, default_value_t = 1)]
        notifiers: usize,
        /// Messages each intake, adjudication and outcome-notice task takes from its
        /// queue at once.
        #[arg(long, default_value_t = claims::engine::DEFAULT_BATCH)]
        batch: usize,
        /// Milliseconds each of those tasks waits for more messages once it has one and
        /// fewer are waiting than its batch takes, so that messages trickling in share a
        /// batch (`queue_linger_ms`; 0: only what is ready).
        #[arg(long, default_value_t = 2)]
        linger_ms: u64,
        /// Members the claims are spread over.
        #[arg(long, default_value_t = 2_000)]
        members: usize,
        /// Providers the claims are spread over.
        #[arg(long, default_value_t = 20)]
        providers: usize,
        /// How long a phase waits without hearing a new decision before it gives up, in
        /// seconds.
        #[arg(long, default_value = "30", value_parser = parse_seconds)]
        patience: Duration,
        /// Do not draw progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Measures gas per claim of the settlement contract on the embedded EVM: batches of
    /// 1, 10, 50 and 200 claims at 1, 10 and 50 claims per provider, new and existing token
    /// holders, against one transaction per claim.
    Gas,
    /// Measures pure adjudication on one core: three-line claims through every rule, no
    /// store or bus, in windows whose median is the figure.
    Domain {
        /// Each window's length, in seconds (fractions allowed).
        #[arg(long, default_value = "2", value_parser = parse_seconds)]
        seconds: Duration,
        /// How many windows.
        #[arg(long, default_value_t = 5)]
        windows: usize,
    },
}

/// A number of seconds, such as `5` or `0.2`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text} is not a duration: use a positive number of seconds"))
}

fn init_logging(json: bool, level: &str) {
    // Quiet by default so the demo's report reads cleanly; RUST_LOG=info shows every step.
    // The NATS client logs every connection event at info, a line per attempt to
    // reconnect; the engine logs those events itself, once per outage
    // (`adapters/src/bus/nats.rs`), so the client's own are kept to warnings unless asked.
    let directives = if level.contains("async_nats") {
        level.to_owned()
    } else {
        format!("{level},async_nats=warn")
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    // Colours only on a terminal: a log file or collector would keep the escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Built by hand rather than by `#[tokio::main]`, so that `--threads` can size it.
    let runtime = claims::runtime::build(cli.threads).context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let log_json = match cli.log_format.as_deref() {
        Some(format) => format.parse::<LogFormat>().map_err(anyhow::Error::msg)? == LogFormat::Json,
        None => cli.log_json,
    };
    if let Command::Serve { .. } = cli.command {
        // Serve logs as its configuration says, so it is read first.
    } else {
        init_logging(log_json, "warn");
    }
    match cli.command {
        Command::Demo { examples, database } => {
            let examples = claims::demo::examples_dir(examples)?;
            let report = claims::demo::run(&claims::demo::DemoOptions { examples, database })
                .await
                .context("the demo failed")?;
            print_report(&claims::demo::render(&report));
            if report.paid() == 0 {
                anyhow::bail!("the demo paid no claim");
            }
        }
        Command::Replay { store, quiet } => {
            let report = claims::replay::run(&store.existing()?, !quiet)
                .await
                .context("the replay failed")?;
            print_report(&format!("{}\n", report.summary()));
        }
        Command::Serve {
            config,
            role,
            nats_url,
            stream,
            nats_namespace,
            nats_user,
            nats_credentials,
            database,
            database_url,
            database_schema,
            adjudicators,
            listen,
            rpc_url,
            settlement_contract,
            settler_key_file,
            settler_keystore,
            confirmations,
            batch_size,
        } => {
            let file = match &config {
                Some(path) => ServeSettings::from_file(path)?,
                None => ServeSettings::default(),
            };
            let flags = ServeSettings {
                roles: role,
                database,
                database_url,
                database_schema,
                nats_url,
                stream,
                nats_namespace,
                nats_user,
                nats_password: None,
                nats_token: None,
                nats_credentials,
                adjudicators,
                listen,
                log_level: None,
                log_format: cli
                    .log_format
                    .clone()
                    .or(cli.log_json.then(|| "json".to_owned())),
                rpc_url,
                settlement_contract,
                settler_key_file,
                settler_keystore,
                confirmations,
                batch_size,
                ..ServeSettings::default()
            };
            let settings = file
                .overridden_by(ServeSettings::from_env(std::env::vars())?)
                .overridden_by(flags)
                .resolve()?;
            init_logging(settings.log_format == LogFormat::Json, &settings.log_level);
            claims::serve::run(settings).await?;
        }
        Command::Submit {
            files,
            nats_url,
            insurer,
            nats_namespace,
            credentials,
            wait_decision,
            timeout,
        } => {
            let options = claims::submit::SubmitOptions {
                nats_url,
                insurer: claims_domain::InsurerId::new(&insurer)
                    .with_context(|| format!("{insurer:?} is not an insurer id"))?,
                namespace: nats_namespace.map(claims::config::namespace).transpose()?,
                credentials: credentials.resolve()?,
                files,
                wait_decision,
                timeout,
            };
            let report = claims::submit::run(&options)
                .await
                .context("submitting the claims failed")?;
            print_report(&claims::submit::render(&report));
            if !report.all_accepted() {
                anyhow::bail!("not every claim was accepted");
            }
        }
        Command::NatsConfig {
            out,
            insurers,
            listen,
            store_dir,
            engine_user,
            nats_namespace,
        } => {
            let insurers = insurers
                .iter()
                .map(|insurer| {
                    claims_domain::InsurerId::new(insurer)
                        .with_context(|| format!("{insurer:?} is not an insurer id"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let request = claims::nats_access::NatsConfigRequest {
                out: out.clone(),
                listen,
                store_dir,
                engine_user,
                insurers,
                namespace: nats_namespace.map(claims::config::namespace).transpose()?,
            };
            let access = claims::nats_access::write(&request)?;
            let namespace = access
                .namespace
                .as_deref()
                .map(|namespace| format!(", subjects under the namespace {namespace}"))
                .unwrap_or_default();
            print_report(&format!(
                "{}: account {}, the engine's user {} and {} insurers{namespace}; passwords in {}\n\
                 start it with: nats-server -c {}\n\
                 or include {} in the accounts block of a server of your own\n",
                out.join(claims::nats_access::ACCOUNT_FILE).display(),
                claims::nats_access::account_name(access.namespace.as_deref()),
                access.engine.name,
                access.insurers.len(),
                out.join("users").display(),
                out.join("nats-server.conf").display(),
                out.join(claims::nats_access::ACCOUNT_FILE).display(),
            ));
        }
        Command::Status { claim, store } => {
            print_report(&claims::status::run(&store.database()?, &claim).await?);
        }
        Command::Reference {
            command:
                ReferenceCommand::Load {
                    file,
                    insurer,
                    store,
                },
        } => {
            let data = claims::reference::ReferenceData::from_file(&file)?;
            let (store, _) = claims::engine::open_database(&store.database()?).await?;
            let summary = data
                .store_as(store.as_ref(), &keeper(insurer))
                .await
                .with_context(|| format!("loading {}", file.display()))?;
            print_report(&format!(
                "{}: {} entries stored, {} already stored as given\n",
                file.display(),
                summary.stored,
                summary.unchanged
            ));
        }
        Command::Rules { command } => rules(command).await?,
        Command::Reconcile {
            store,
            rpc_url,
            rpc_ca_file,
            contract,
            from_block,
        } => {
            let store = claims::replay::open_store(&store.existing()?).await?;
            let report = claims::reconciliation::against_rpc(
                store.as_ref(),
                &rpc_url,
                rpc_ca_file.as_deref(),
                contract,
                from_block,
            )
            .await
            .context("reconciliation failed")?;
            print_report(&claims::reconciliation::render(&report));
            if !report.is_clean() {
                anyhow::bail!(
                    "{} discrepancies between the chain and the event store",
                    report.discrepancies()
                );
            }
        }
        Command::DeadLetters {
            command: DeadLetterCommand::List { nats, queue, json },
        } => {
            let letters = claims::dead_letters::list(nats.config()?, queue.as_deref())
                .await
                .context("reading the dead letters failed")?;
            if json {
                print_report(&claims::dead_letters::json_lines(&letters));
            } else {
                print_report(&claims::dead_letters::render(&letters));
            }
        }
        Command::DeadLetters {
            command:
                DeadLetterCommand::Requeue {
                    nats,
                    queue,
                    sequences,
                    all,
                },
        } => {
            let selection = if all {
                claims::dead_letters::Selection::All
            } else {
                claims::dead_letters::Selection::Sequences(sequences)
            };
            let report = claims::dead_letters::requeue(nats.config()?, &queue, &selection)
                .await
                .context("requeueing the dead letters failed")?;
            print_report(&claims::dead_letters::render_requeue(&report));
            if !report.failed.is_empty() {
                anyhow::bail!("{} dead letters were not requeued", report.failed.len());
            }
        }
        Command::Contract {
            command: ContractCommand::Pause(options),
        } => {
            let receipt = claims::contract::pause(&options)
                .await
                .context("pausing the contract failed")?;
            print_transaction("paused", options.contract, receipt);
        }
        Command::Contract {
            command: ContractCommand::Unpause(options),
        } => {
            let receipt = claims::contract::unpause(&options)
                .await
                .context("unpausing the contract failed")?;
            print_transaction("unpaused", options.contract, receipt);
        }
        Command::Contract {
            command: ContractCommand::Status { options, json },
        } => {
            let status = claims::contract::status(&options)
                .await
                .context("reading the contract failed")?;
            if json {
                print_report(&format!("{}\n", claims::contract::status_json(&status)));
            } else {
                print_report(&claims::contract::render_status(&status));
            }
        }
        Command::Contract {
            command: ContractCommand::Deploy(options),
        } => {
            let deployment = claims::contract::deploy(&options)
                .await
                .context("the deployment failed")?;
            print_report(&format!(
                "settlement contract {}\ntoken {}\ndeployed in block {}\n",
                deployment.settlement, deployment.token, deployment.block
            ));
            print_report(&format!(
                "{}\n",
                serde_json::json!({
                    "settlement": deployment.settlement.to_string(),
                    "token": deployment.token.to_string(),
                    "block": deployment.block,
                })
            ));
        }
        Command::Bench {
            command:
                BenchCommand::Store {
                    backend,
                    database_url,
                    seconds,
                    warmup_seconds,
                    page_size,
                },
        } => {
            let options = StoreBenchOptions {
                backend,
                database_url,
                measure: seconds,
                warmup: warmup_seconds,
                page_size,
            };
            let report = claims::bench::store::run(&options)
                .await
                .context("the event store benchmark failed")?;
            print_report(&claims::bench::store::render(&report));
            // The last line is the machine-readable one.
            print_report(&format!("{}\n", report.json_line()?));
        }
        Command::Bench {
            command: BenchCommand::Domain { seconds, windows },
        } => {
            let options = claims::bench::domain::DomainBenchOptions {
                window: seconds,
                windows: windows.max(1),
            };
            let report = claims::bench::domain::run(&options)
                .context("the adjudication benchmark failed")?;
            print_report(&claims::bench::domain::render(&report));
            // The last line is the machine-readable one.
            print_report(&format!("{}\n", report.json_line()?));
        }
        Command::Bench {
            command:
                BenchCommand::E2e {
                    nats_url,
                    database_url,
                    claims,
                    rate,
                    seconds,
                    workers,
                    worker_processes,
                    intakes,
                    notifiers,
                    batch,
                    linger_ms,
                    members,
                    providers,
                    patience,
                    quiet,
                },
        } => {
            let options = claims::bench::e2e::E2eBenchOptions {
                nats_url,
                database_url,
                claims,
                rate,
                seconds,
                workers,
                worker_processes,
                intakes,
                notifiers,
                batch,
                linger: Duration::from_millis(linger_ms),
                members,
                providers,
                patience,
                progress: !quiet,
                threads: cli.threads,
            };
            let report = claims::bench::e2e::run(&options)
                .await
                .context("the end-to-end benchmark failed")?;
            print_report(&claims::bench::e2e::render(&report));
            // The last line is the machine-readable one.
            print_report(&format!("{}\n", report.json_line()?));
            if !report.complete() {
                anyhow::bail!(
                    "{} claims were never heard decided",
                    report.sustained.missing() + report.open_loop.missing()
                );
            }
        }
        Command::Bench {
            command: BenchCommand::Gas,
        } => {
            let report = claims::bench::gas::run()
                .await
                .context("the gas benchmark failed")?;
            print_report(&claims::bench::gas::render(&report));
            // The last line is the machine-readable one.
            print_report(&format!("{}\n", report.json_line()?));
        }
    }
    Ok(())
}

/// Who reference data loaded from a file is stored for: the operator unless an insurer
/// is named.
fn keeper(insurer: Option<claims_domain::InsurerId>) -> claims::keeper::Keeper {
    insurer.map_or(
        claims::keeper::Keeper::Operator,
        claims::keeper::Keeper::Insurer,
    )
}

#[allow(clippy::print_stdout)] // The report is the command's output.
fn print_report(report: &str) {
    print!("{report}");
}

/// An operator's transaction on the contract: a line for people, then one JSON line.
fn print_transaction(
    done: &str,
    contract: WalletAddress,
    receipt: claims_settlement::json_rpc::operator::OperatorReceipt,
) {
    print_report(&format!(
        "{done} {contract} in transaction {} (block {})\n{}\n",
        receipt.transaction,
        receipt.block,
        serde_json::json!({
            "contract": contract.to_string(),
            "transaction": receipt.transaction.to_string(),
            "block": receipt.block,
        })
    ));
}

/// `claims rules …`.
async fn rules(command: RulesCommand) -> anyhow::Result<()> {
    use claims::rule_sets::{self, RuleSetLoaded};
    match command {
        RulesCommand::Load {
            directory,
            insurer,
            store,
        } => {
            let rule_set = rule_sets::read(&directory)?;
            let (store, _) = claims::engine::open_database(&store.database()?).await?;
            let report =
                match rule_sets::store_as(store.as_ref(), &rule_set, &keeper(insurer)).await? {
                    RuleSetLoaded::Published { version, plans } => {
                        format!("{version} is in force: {plans} plan revisions stored\n")
                    }
                    RuleSetLoaded::Unchanged(version) => {
                        format!("{version} was already stored as given; nothing stored\n")
                    }
                };
            print_report(&report);
        }
        RulesCommand::Check { directory } => {
            let rule_set = rule_sets::read(&directory)?;
            print_report(&format!(
                "{}: {} is valid, {} plans\n",
                directory.display(),
                rule_set.id,
                rule_set.plans.len()
            ));
        }
        RulesCommand::Replay { claim, store } => {
            let id: claims_domain::ClaimId = claim
                .parse()
                .with_context(|| format!("{claim:?} is not a claim id"))?;
            let store = claims::replay::open_store(&store.existing()?).await?;
            let replay = claims::decision_replay::replay_decision(store.as_ref(), id).await?;
            let rules = replay.original.rule_set.as_ref().map_or_else(
                || {
                    format!(
                        "plan {} revision {}",
                        replay.original.plan, replay.original.plan_revision
                    )
                },
                ToString::to_string,
            );
            let summary = |adjudication: &claims_domain::adjudication::Adjudication| {
                format!(
                    "{:?}, payer {}, member {}",
                    adjudication.decision,
                    adjudication.payer_paid,
                    adjudication.member_responsibility
                )
            };
            let inputs = match replay.inputs {
                claims::decision_replay::InputsRead::Recorded => {
                    "the stream versions the decision recorded reading"
                }
                // Decisions stored before they recorded their inputs: say which rule stood
                // in, since on PostgreSQL it may count an event the decision never saw.
                claims::decision_replay::InputsRead::BeforeInLog => {
                    "the events stored before the decision in the log (it recorded no versions)"
                }
            };
            print_report(&format!(
                "claim {id} under {rules}, inputs from {inputs}\n  stored:   {}\n  replayed: {}\n",
                summary(&replay.original),
                summary(&replay.replayed)
            ));
            if replay.original != replay.replayed {
                anyhow::bail!("the replayed decision differs from the stored one");
            }
        }
    }
    Ok(())
}
