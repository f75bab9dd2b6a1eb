//! The command line, as clap parses it. Validation and defaults that depend
//! on several flags live with the commands, not here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run scripts in a WebAssembly sandbox: no network, no host files or
/// environment unless granted, enforced time, fuel, memory and output limits.
#[derive(Debug, Parser)]
#[command(name = "sandrun", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where images, compiled artifacts and sources are cached
    /// [default: the user cache folder, e.g. ~/.cache/sandrun]
    #[arg(long, global = true, env = "SANDRUN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use this prebuilt Python image folder instead of the cached one
    #[arg(long, global = true, env = "SANDRUN_IMAGE_DIR", value_name = "DIR")]
    pub image_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a script, a handler, or a command line in a fresh sandbox
    Run(RunArgs),
    /// Download a source into the cache without running it
    Fetch(FetchCommandArgs),
    /// List or clean the source cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Measure per-invocation latency against a native python3 subprocess
    Bench(BenchArgs),
    /// Build or locate the Python guest image
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run SSM Automation runbooks (schemaVersion 0.3) locally
    #[command(subcommand)]
    Automation(AutomationCommand),
    /// Run SSM Command documents (AWS-RunRemoteScript) locally
    #[command(subcommand, name = "command")]
    Ssm(CommandCommand),
    /// Serve invocations over HTTP to many tenants
    Serve(ServeArgs),
    /// Serve sandboxed Python to AI agents over the Model Context Protocol
    Mcp(McpArgs),
    /// Print the sha256 of an API key, for a tenant's api_key_sha256
    HashKey {
        /// The key (or - to read it from stdin)
        key: String,
    },
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Limits and allowed sources (TOML; see README) [default: 30 s, 256 MiB,
    /// no mounts, no network]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Serve streamable HTTP at ADDR (path /mcp) instead of stdio
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file: server settings and tenants (see README)
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Where to listen [default: the config's listen, else 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Where async results go: a folder, or s3://BUCKET/PREFIX shared by replicas
    /// [default: the config's result_store, else <cache>/results]
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub result_store: Option<String>,

    /// Log lines as JSON objects or as text
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["json", "text"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// Run a runbook: aws:executeScript steps in the sandbox, aws:sleep,
    /// aws:branch, and other actions from --mock
    Run(AutomationRunArgs),
}

#[derive(Debug, Args)]
pub struct AutomationRunArgs {
    /// The runbook: a YAML or JSON file with schemaVersion '0.3'
    #[arg(value_name = "DOCUMENT")]
    pub document: PathBuf,

    /// A parameter value (repeatable); lists as a,b,c or JSON
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,

    /// Parameter values as a JSON object (or @FILE.json / @FILE.yaml);
    /// the AWS CLI's {"Name": ["value"]} form works too
    #[arg(long = "parameters", value_name = "JSON|@FILE")]
    pub parameters_json: Option<String>,

    /// Canned results for steps that cannot run locally (aws:executeAwsApi, …):
    /// a YAML or JSON file mapping step names to Response / Outputs / Status
    #[arg(long, value_name = "FILE")]
    pub mock: Option<PathBuf>,

    /// Take an attachment from any source `sandrun run` accepts instead of
    /// the file beside the document (repeatable)
    #[arg(long = "attachment", value_name = "NAME=SOURCE")]
    pub attachments: Vec<String>,

    /// Do not wait in aws:sleep steps
    #[arg(long)]
    pub no_sleep: bool,

    /// Let scripts read the host's real wall clock
    #[arg(long)]
    pub allow_clock: bool,

    /// The value of {{ global:ACCOUNT_ID }}
    #[arg(long, value_name = "ID", default_value = "123456789012")]
    pub account_id: String,

    /// The value of {{ global:REGION }}
    #[arg(
        long,
        env = "AWS_REGION",
        value_name = "REGION",
        default_value = "us-east-1"
    )]
    pub region: String,

    /// Print the execution record as one JSON object
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Debug, Subcommand)]
pub enum CommandCommand {
    /// Send a command document to local targets, as `aws ssm send-command` does
    Run(CommandRunArgs),
}

#[derive(Debug, Args)]
pub struct CommandRunArgs {
    /// The document; AWS-RunRemoteScript runs locally
    #[arg(long, value_name = "NAME")]
    pub document_name: String,

    /// The parameters exactly as send-command takes them, e.g.
    /// '{"sourceType":["S3"],"sourceInfo":["{\"path\":\"https://…\"}"],"commandLine":["main.py a"]}'
    /// (or @FILE.json)
    #[arg(long, value_name = "JSON|@FILE")]
    pub parameters: String,

    /// Several targets, one per line: a working directory, or a JSON object
    /// of parameters that override --parameters
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// How many targets run at once: N or P% [default: 50]
    #[arg(long, value_name = "N|P%", default_value = "50")]
    pub max_concurrency: String,

    /// Stop starting targets after more than this many failed: N or P%
    #[arg(long, value_name = "N|P%", default_value = "0")]
    pub max_errors: String,

    /// Write each target's full stdout and stderr under this folder
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Upload each target's full output to this S3 bucket
    #[arg(long, value_name = "BUCKET")]
    pub output_s3_bucket_name: Option<String>,

    /// The key prefix for uploaded output
    #[arg(
        long,
        value_name = "PREFIX",
        requires = "output_s3_bucket_name",
        default_value = ""
    )]
    pub output_s3_key_prefix: String,

    /// Bytes kept of stdout and of stderr, each [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_output: Option<usize>,

    /// Print the command and its invocations as one JSON object
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub entry: EntryArgs,

    /// The command line, as AWS-RunRemoteScript runs it: "mainFile.py arg1 arg2"
    #[arg(long, value_name = "\"FILE ARGS...\"", conflicts_with = "handler")]
    pub command_line: Option<String>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Grant a host folder: HOST:GUEST[:ro|rw] (read-only unless :rw)
    #[arg(long = "mount", value_name = "HOST:GUEST[:ro|rw]")]
    pub mounts: Vec<String>,

    /// Set an environment variable in the guest (it sees no others)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Let the guest read the host's real wall clock (default: a virtual
    /// clock that starts at the Unix epoch)
    #[arg(long)]
    pub allow_clock: bool,

    /// Print exactly one JSON object with the whole result on stdout
    #[arg(long)]
    pub json: bool,
}

/// Which function to call, with what input, in which interpreter.
#[derive(Debug, Args)]
pub struct EntryArgs {
    /// The handler: `func` for a single file, `module.func` for a folder or .zip
    #[arg(long, value_name = "NAME")]
    pub handler: Option<String>,

    /// The event: JSON text, or @FILE.json / @FILE.yaml
    #[arg(long, value_name = "JSON|@FILE", requires = "handler")]
    pub payload: Option<String>,

    /// The interpreter: python, python3, or an aws:executeScript name such as python3.11
    /// [default: by the script's extension]
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Wall-clock limit in seconds [default: 600 for handlers, 3600 for commands; at most 172800]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,

    /// Instruction budget (CPython burns about 18 G per second) [default: unmetered]
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Memory limit in MiB [default: 256]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u64>,

    /// Bytes kept of stdout and of stderr, each [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_output: Option<usize>,

    /// Largest handler payload in bytes of JSON [default: 102400]
    #[arg(long, value_name = "BYTES")]
    pub max_payload: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub entry: EntryArgs,

    /// Invocations to measure, each in a fresh sandbox
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,

    /// Native python3 subprocess runs to measure for comparison (0 skips them)
    #[arg(long, default_value_t = 30)]
    pub native_iterations: usize,

    /// Whole-process `sandrun run` and `python3 script.py` runs to compare (0 skips them)
    #[arg(long, default_value_t = 10)]
    pub process_iterations: usize,

    /// MCP tools/call round trips to a `sandrun mcp` child over stdio (0 skips them)
    #[arg(long, default_value_t = 50)]
    pub mcp_iterations: usize,

    /// Print the figures as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the Python image from its pinned recipe (pip, componentize-py)
    Build {
        /// Rebuild even if the image is already cached
        #[arg(long)]
        force: bool,
        /// Print errors only
        #[arg(long)]
        quiet: bool,
    },
    /// Print the Python image's folder, building it first if it is missing
    Path,
}

/// Where the script comes from, and how remote sources are fetched.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A .py file, a folder, a .zip, `-` (stdin), https://…[#sha256=HEX], s3://BUCKET/KEY,
    /// s3://BUCKET/PREFIX/, github:OWNER/REPO/PATH[@REF] or git+URL[@REF][#path=PATH]
    #[arg(value_name = "SOURCE", required_unless_present = "source_type")]
    pub source: Option<String>,

    /// The seed's source type: GitHub or S3 (with --source-info)
    #[arg(
        long,
        value_name = "TYPE",
        requires = "source_info",
        conflicts_with = "source"
    )]
    pub source_type: Option<String>,

    /// The seed's source info JSON, e.g. '{"owner": "o", "repository": "r", "path": "p"}'
    #[arg(long, value_name = "JSON", requires = "source_type")]
    pub source_info: Option<String>,

    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// How remote sources are fetched.
#[derive(Debug, Args, Clone)]
pub struct FetchArgs {
    /// Run from the cache only; fail if the source is not cached
    #[arg(long)]
    pub offline: bool,

    /// Allow plain http:// downloads (the seed's allowInsecureDownload)
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Largest download in bytes [default: 104857600]
    #[arg(long, value_name = "BYTES")]
    pub max_download: Option<u64>,

    /// Longest one download request may take, in seconds [default: 300]
    #[arg(long, value_name = "SECS")]
    pub download_timeout: Option<u64>,

    /// The GitHub REST API's base URL (GitHub Enterprise Server: https://HOST/api/v3)
    #[arg(
        long,
        env = "SANDRUN_GITHUB_API_URL",
        value_name = "URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// An S3-compatible endpoint (path-style addressing); AWS_ENDPOINT_URL works too
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// A file of NAME=VALUE secrets (mode 0600) for {{ssm-secure:NAME}} references
    #[arg(long, env = "SANDRUN_SECRETS_FILE", value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,

    /// An extra trusted root certificate (PEM) for HTTPS downloads
    #[arg(long, env = "SANDRUN_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FetchCommandArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cached sources: reference, kind, digest, when fetched
    List {
        /// Print one JSON array
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached source (images stay)
    Clean,
}
