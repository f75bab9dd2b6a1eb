//! Loopback servers for the remote-source tests: a fake GitHub contents API,
//! a static HTTP(S) file server, `git daemon` and the S3-compatible `s3s-fs`.
//!
//! Each server is a child process that is killed (and reaped) when its handle
//! is dropped; its scratch files (port file, request log, stderr, TLS
//! certificates) live in a temporary folder owned by the handle.

use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// How long a server may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times a server that picks its port up front is restarted when it
/// dies at start-up (another process may have taken the port meanwhile).
const START_ATTEMPTS: usize = 5;

/// The fixed identity and dates of the commits made by [`git_repo`] and
/// [`git_commit`], so that commit shas are reproducible.
const GIT_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Sandrun Test"),
    ("GIT_AUTHOR_EMAIL", "test@sandrun.invalid"),
    ("GIT_COMMITTER_NAME", "Sandrun Test"),
    ("GIT_COMMITTER_EMAIL", "test@sandrun.invalid"),
];

/// The version of `s3s-fs` that [`s3_server`] installs when none is found.
const S3S_FS_VERSION: &str = "0.14.1";

// ------------------------------------------------------------------ processes

/// A running server process; killed and reaped on drop.
struct Process {
    name: String,
    child: Child,
    stderr: PathBuf,
}

impl Process {
    /// Starts `command` with stdout and stderr going to files in `dir`.
    fn spawn(name: &str, mut command: Command, dir: &Path) -> Process {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        command
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).expect("create a server stdout file"))
            .stderr(fs::File::create(&stderr).expect("create a server stderr file"));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Process {
            name: name.to_owned(),
            child,
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `Some(description)` once the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot be waited for: {e}")),
        }
    }

    /// Kills the process and panics with `problem` and its stderr.
    fn fail(&mut self, problem: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "test server {} {problem}\n--- its stderr ---\n{}",
            self.name,
            self.stderr()
        );
    }

    /// Waits until the process writes its port to `port_file` (atomically).
    fn wait_for_port_file(&mut self, port_file: &Path) -> u16 {
        let start = Instant::now();
        loop {
            if let Ok(text) = fs::read_to_string(port_file)
                && let Ok(port) = text.trim().parse()
            {
                return port;
            }
            if let Some(status) = self.exited() {
                self.fail(&format!("exited before it was listening ({status})"));
            }
            if start.elapsed() > READY_TIMEOUT {
                self.fail(&format!(
                    "did not write {} within {READY_TIMEOUT:?}",
                    port_file.display()
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `port` on loopback accepts connections; `Err` with a
    /// description if the process exits first.
    fn wait_for_port(&mut self, port: u16) -> Result<(), String> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("exited before it was listening ({status})"));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                self.fail(&format!(
                    "did not listen on port {port} within {READY_TIMEOUT:?}"
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// Starts `make(port)` on a free port and waits until it listens, retrying
/// with another port if the server dies at start-up (e.g. the port was taken).
fn start_on_free_port(name: &str, dir: &Path, make: impl Fn(u16) -> Command) -> (Process, u16) {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let mut process = Process::spawn(name, make(port), dir);
        match process.wait_for_port(port) {
            Ok(()) => return (process, port),
            Err(problem) => failures.push(format!("port {port}: {problem}\n{}", process.stderr())),
        }
    }
    panic!(
        "test server {name} did not start in {START_ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// A Python fixture from `tests/fixtures/`.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// A fresh temporary folder for one server's scratch files.
fn scratch(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create a temporary folder for a test server")
}

/// Writes `data` to `path`, creating its parent folders.
fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create folder {}: {e}", parent.display()));
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The lines a server logged so far (one per request; empty if none yet).
pub fn requests(log: &Path) -> Vec<String> {
    match fs::read_to_string(log) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read request log {}: {e}", log.display()),
    }
}

// ------------------------------------------------------------------ GitHub

/// A running `tests/fixtures/fake_github.py`: GitHub's REST contents API.
pub struct FakeGitHub {
    /// The API base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// The request log: one `METHOD PATH_WITH_QUERY AUTH=yes|no` line per request.
    pub log: PathBuf,
    process: Process,
    _scratch: TempDir,
}

impl FakeGitHub {
    /// The requests logged so far (see [`requests`]).
    pub fn requests(&self) -> Vec<String> {
        requests(&self.log)
    }

    /// What the server wrote to stderr so far (tracebacks of fixture bugs).
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// Starts the fake GitHub API over the repositories under `root` (see
/// [`github_repo`]). With `token` the repositories are private and need
/// `Authorization: Bearer <token>` (or `token <token>`); `mode` is `"normal"`,
/// `"forbidden"` (every request 403) or `"rate-limited"` (every request 403
/// with exhausted `X-RateLimit-*` headers).
pub fn fake_github(root: &Path, token: Option<&str>, mode: &str) -> FakeGitHub {
    let dir = scratch("sandrun-fake-github-");
    let port_file = dir.path().join("port");
    let log = dir.path().join("requests.log");
    let mut command = Command::new("python3");
    command
        .arg(fixture("fake_github.py"))
        .arg("--root")
        .arg(root)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--mode")
        .arg(mode)
        .arg("--log")
        .arg(&log);
    if let Some(token) = token {
        command.arg("--token").arg(token);
    }
    let mut process = Process::spawn("fake_github.py", command, dir.path());
    let port = process.wait_for_port_file(&port_file);
    FakeGitHub {
        url: format!("http://127.0.0.1:{port}"),
        log,
        process,
        _scratch: dir,
    }
}

/// One commit for [`github_repo`]: its sha and its files as `(path, contents)`.
pub type GitHubCommit<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);

/// Lays out repository `owner/repo` under `root` for [`fake_github`]:
/// `branches` as `(name, commit sha)` (the first is the default branch) and
/// `commits` as `(sha, [(path, contents)])`.
pub fn github_repo(
    root: &Path,
    owner: &str,
    repo: &str,
    branches: &[(&str, &str)],
    commits: &[GitHubCommit<'_>],
) {
    let folder = root.join(owner).join(repo);
    let mut map = serde_json::Map::new();
    for (name, sha) in branches {
        map.insert((*name).to_owned(), serde_json::Value::from(*sha));
    }
    let json = serde_json::to_string_pretty(&map).expect("serialize branches.json");
    write_file(&folder.join("branches.json"), json.as_bytes());
    for (sha, files) in commits {
        let commit = folder.join("commits").join(sha);
        fs::create_dir_all(&commit)
            .unwrap_or_else(|e| panic!("create folder {}: {e}", commit.display()));
        for (path, data) in *files {
            write_file(&commit.join(path), data);
        }
    }
}

// ------------------------------------------------------------------ HTTP(S)

/// A running `tests/fixtures/http_server.py`: static files for download tests.
pub struct HttpServer {
    /// The base URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`
    /// (no trailing slash).
    pub url: String,
    /// The request log: one `METHOD PATH` line per request.
    pub log: PathBuf,
    /// With TLS, the PEM certificate of the CA that signed the server's
    /// certificate (valid for `127.0.0.1` and `localhost`).
    pub ca_cert: Option<PathBuf>,
    process: Process,
    _scratch: TempDir,
}

impl HttpServer {
    /// The requests logged so far (see [`requests`]).
    pub fn requests(&self) -> Vec<String> {
        requests(&self.log)
    }

    /// What the server wrote to stderr so far (tracebacks of fixture bugs).
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// Starts the static file server on the files under `root`; with `tls` it
/// speaks HTTPS with a certificate from a freshly made CA (see
/// [`HttpServer::ca_cert`]). Besides `/<path>` it serves `/redirect/N/<path>`,
/// `/flaky/N/<path>`, `/status/CODE`, `/chunked/<path>` and
/// `/slow/SECONDS/<path>`.
pub fn http_server(root: &Path, tls: bool) -> HttpServer {
    let dir = scratch("sandrun-http-server-");
    let port_file = dir.path().join("port");
    let log = dir.path().join("requests.log");
    let mut command = Command::new("python3");
    command
        .arg(fixture("http_server.py"))
        .arg("--root")
        .arg(root)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--log")
        .arg(&log);
    let ca_cert = tls.then(|| {
        let certs = make_certificates(dir.path());
        command
            .arg("--tls-cert")
            .arg(&certs.cert)
            .arg("--tls-key")
            .arg(&certs.key);
        certs.ca
    });
    let mut process = Process::spawn("http_server.py", command, dir.path());
    let port = process.wait_for_port_file(&port_file);
    let scheme = if tls { "https" } else { "http" };
    HttpServer {
        url: format!("{scheme}://127.0.0.1:{port}"),
        log,
        ca_cert,
        process,
        _scratch: dir,
    }
}

/// The files of a test CA and a server certificate it signed.
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Makes a CA and a server certificate for `127.0.0.1`/`localhost` in `dir`
/// with the `openssl` CLI (P-256 keys; the leaf is a proper end-entity
/// certificate, as rustls/webpki insist).
fn make_certificates(dir: &Path) -> Certificates {
    let ca_config = dir.join("ca.cnf");
    let leaf_config = dir.join("leaf.cnf");
    write_file(
        &ca_config,
        b"[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = ext\n\
          [dn]\nCN = sandrun test CA\n\
          [ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
          subjectKeyIdentifier = hash\n",
    );
    write_file(
        &leaf_config,
        b"[req]\nprompt = no\ndistinguished_name = dn\n\
          [dn]\nCN = localhost\n\
          [ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
          extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n\
          subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    );
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    let (cert, key, csr) = (path("server.pem"), path("server.key"), path("server.csr"));
    let serial = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(&[
        &["req", "-x509"],
        &ec[..],
        &["-days", "3650", "-keyout", &ca_key, "-out", &ca],
        &["-config", &path("ca.cnf")],
    ]);
    openssl(&[
        &["req", "-new"],
        &ec[..],
        &["-keyout", &key, "-out", &csr],
        &["-config", &path("leaf.cnf")],
    ]);
    openssl(&[
        &[
            "x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-days", "3650",
        ],
        &["-set_serial", &format!("0x{serial:x}"), "-out", &cert],
        &["-extfile", &path("leaf.cnf"), "-extensions", "ext"],
    ]);
    Certificates {
        ca: ca.into(),
        cert: cert.into(),
        key: key.into(),
    }
}

/// Runs `openssl` with the concatenated argument lists; panics on failure.
fn openssl(args: &[&[&str]]) {
    let args: Vec<&str> = args.concat();
    let output = Command::new("openssl")
        .args(&args)
        .env_remove("OPENSSL_CONF")
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (needed for TLS test servers): {e}"));
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ------------------------------------------------------------------ git

/// A running `git daemon` serving every repository under its base path.
pub struct GitDaemon {
    /// The base URL, `git://127.0.0.1:PORT/`; append a folder name under the
    /// base path to get a repository's URL.
    pub url: String,
    _process: Process,
    _scratch: TempDir,
}

/// Starts `git daemon --export-all` on loopback over the repositories (plain
/// or bare) in the folders under `base_path`.
pub fn git_daemon(base_path: &Path) -> GitDaemon {
    let dir = scratch("sandrun-git-daemon-");
    // `git daemon` runs `git-daemon` as a child process that would outlive a
    // killed `git`, so the daemon binary is run directly.
    let exec_path = PathBuf::from(git(dir.path(), &["--exec-path"], "2024-01-01T00:00:00Z"));
    let (process, port) = start_on_free_port("git-daemon", dir.path(), |port| {
        let mut command = git_program(exec_path.join("git-daemon"));
        command
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--informative-errors")
            .arg(format!("--base-path={}", base_path.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"));
        command
    });
    GitDaemon {
        url: format!("git://127.0.0.1:{port}/"),
        _process: process,
        _scratch: dir,
    }
}

/// `git`, isolated from the user's and the system's configuration and from
/// any repository the tests themselves run in.
fn git_command() -> Command {
    git_program("git")
}

/// `program` with the environment of [`git_command`].
fn git_program(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_CEILING_DIRECTORIES");
    command
}

/// Runs `git args...` in `dir` and returns its trimmed stdout; panics on failure.
fn git(dir: &Path, args: &[&str], date: &str) -> String {
    let output = git_command()
        .current_dir(dir)
        .args(args)
        .envs(GIT_IDENTITY)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        output.status.success(),
        "git {} in {} failed: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Writes `files` (`(path, contents)`) into the work tree `dir` and commits
/// everything; returns the new commit's sha.
fn commit_files(dir: &Path, files: &[(&str, &str)], date: &str) -> String {
    for (path, contents) in files {
        write_file(&dir.join(path), contents.as_bytes());
    }
    git(dir, &["add", "--all"], date);
    git(
        dir,
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-verify",
            "-m",
            "test commit",
        ],
        date,
    );
    git(dir, &["rev-parse", "HEAD"], date)
}

/// Creates a git repository in `dir` (branch `main`) with one commit of
/// `files` (`(path, contents)`) by a fixed author at a fixed date; returns
/// the commit's sha (the same for the same files).
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create folder {}: {e}", dir.display()));
    git(
        dir,
        &["init", "--quiet", "--initial-branch=main"],
        "2024-01-01T00:00:00Z",
    );
    commit_files(dir, files, "2024-01-01T00:00:00Z")
}

/// Adds a commit of `files` (`(path, contents)`) on top of the current branch
/// of the repository in `dir`; returns the new commit's sha.
pub fn git_commit(dir: &Path, files: &[(&str, &str)]) -> String {
    commit_files(dir, files, "2024-01-02T00:00:00Z")
}

// ------------------------------------------------------------------ S3

/// A running `s3s-fs`: an S3-compatible server over a temporary folder that
/// verifies SigV4 signatures made with [`access_key`](Self::access_key) and
/// [`secret_key`](Self::secret_key). Only path-style addressing
/// (`ENDPOINT/BUCKET/KEY`) is served; any region name is accepted.
pub struct S3Server {
    /// The endpoint URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub endpoint: String,
    /// The access key id the server accepts.
    pub access_key: String,
    /// The secret key the server accepts.
    pub secret_key: String,
    /// The data folder: bucket `B` is folder `root/B` and object `K` in it is
    /// file `root/B/K`.
    pub root: PathBuf,
    process: Process,
    _scratch: TempDir,
}

impl S3Server {
    /// Stores object `key` in `bucket` (creating the bucket) by writing its file.
    pub fn put(&self, bucket: &str, key: &str, data: &[u8]) {
        write_file(&self.root.join(bucket).join(key), data);
    }

    /// Creates an empty `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let folder = self.root.join(bucket);
        fs::create_dir_all(&folder)
            .unwrap_or_else(|e| panic!("create folder {}: {e}", folder.display()));
    }

    /// The environment that lets the AWS SDK sign requests this server accepts.
    pub fn credentials(&self) -> Vec<(&str, &str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    /// What the server logged so far (with `RUST_LOG=info`).
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// Starts `s3s-fs` on loopback over a fresh, empty data folder. The binary is
/// `$SANDRUN_S3S_FS`, else `s3s-fs` on `PATH`, else
/// `<tools>/bin/s3s-fs` with `<tools>` = `$SANDRUN_CACHE_DIR/test-tools` or
/// `~/.cache/sandrun/test-tools`, installed there by `cargo install` if missing.
pub fn s3_server() -> S3Server {
    let binary = s3s_fs_binary();
    let dir = scratch("sandrun-s3-");
    let root = dir.path().join("data");
    fs::create_dir_all(&root).expect("create the S3 data folder");
    let access_key = "SANDRUNTESTACCESSKEY".to_owned();
    let secret_key = "sandrun/test/secret/key/0123456789abcdef".to_owned();
    let (process, port) = start_on_free_port("s3s-fs", dir.path(), |port| {
        let mut command = Command::new(binary);
        command
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--access-key")
            .arg(&access_key)
            .arg("--secret-key")
            .arg(&secret_key)
            .arg(&root)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        command
    });
    S3Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key,
        secret_key,
        root,
        process,
        _scratch: dir,
    }
}

/// The `s3s-fs` binary: `$SANDRUN_S3S_FS`, else `s3s-fs` on `PATH`, else
/// `<tools>/bin/s3s-fs` where `<tools>` is `$SANDRUN_CACHE_DIR/test-tools` or
/// `~/.cache/sandrun/test-tools`; installed there with `cargo install` (once,
/// under a file lock) if it is in none of these places.
fn s3s_fs_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("SANDRUN_S3S_FS").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("s3s-fs"))
                .find(|candidate| candidate.is_file())
        });
        if let Some(path) = on_path {
            return path;
        }
        let tools = match std::env::var_os("SANDRUN_CACHE_DIR").filter(|p| !p.is_empty()) {
            Some(cache) => PathBuf::from(cache).join("test-tools"),
            None => {
                let home = std::env::var_os("HOME").expect("HOME is set (to find ~/.cache)");
                PathBuf::from(home).join(".cache/sandrun/test-tools")
            }
        };
        let binary = tools.join("bin/s3s-fs");
        if !binary.is_file() {
            install_s3s_fs(&tools, &binary);
        }
        binary
    })
}

/// Installs `s3s-fs` into `tools` so that `binary` appears atomically;
/// concurrent test processes wait on a lock file instead of racing.
fn install_s3s_fs(tools: &Path, binary: &Path) {
    fs::create_dir_all(tools.join("bin"))
        .unwrap_or_else(|e| panic!("create folder {}: {e}", tools.display()));
    let lock = fs::File::create(tools.join(".install.lock")).expect("create the install lock file");
    lock.lock().expect("lock the install lock file");
    if binary.is_file() {
        return; // another process installed it while we waited
    }
    // Written to the real stderr: `eprintln!` would be captured by the test harness.
    let _ = writeln!(
        std::io::stderr(),
        "installing s3s-fs {S3S_FS_VERSION} into {} for the S3 tests (once; takes a few minutes)",
        tools.display()
    );
    let staging = tools.join(format!("staging-{}", std::process::id()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", "s3s-fs", "--version", S3S_FS_VERSION])
        .args(["--features", "binary", "--locked", "--root"])
        .arg(&staging)
        .arg("--target-dir")
        .arg(tools.join("target"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .expect("run cargo install s3s-fs");
    assert!(
        status.success(),
        "cargo install s3s-fs {S3S_FS_VERSION} failed ({status})"
    );
    fs::rename(staging.join("bin/s3s-fs"), binary).expect("move the installed s3s-fs into place");
    let _ = fs::remove_dir_all(&staging);
    let _ = fs::remove_dir_all(tools.join("target"));
}
