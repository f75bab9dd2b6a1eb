//! `sandrun serve` as a real process on loopback, driven over HTTP: every
//! endpoint, authentication, quotas, async invocations (also across two
//! replicas sharing the loopback S3-compatible store), cancel, malformed
//! requests, guests that misbehave, and a graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{isolated_cache, sandrun};
use crate::servers;

const ACME_KEY: &str = "acme-secret-key";
const ZETA_KEY: &str = "zeta-secret-key";

fn key_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// Two tenants: acme (1 at a time, a queue of 1, 10 s ceiling) and zeta.
fn config(extra_server: &str, acme_extra: &str) -> String {
    format!(
        "[server]\nmax_running = 2\nshutdown_grace_secs = 2\nmax_body_bytes = 65536\n{extra_server}\n\
         [[tenants]]\nid = \"acme\"\napi_key_sha256 = [\"{}\"]\nmax_concurrent = 1\nmax_queue = 1\n{acme_extra}\n\
         [tenants.limits]\ntimeout_secs = 10\nmemory_mib = 128\n\n\
         [[tenants]]\nid = \"zeta\"\napi_key_sha256 = [\"{}\"]\nmax_concurrent = 2\nmax_queue = 8\n",
        key_hash(ACME_KEY),
        key_hash(ZETA_KEY)
    )
}

/// A running `sandrun serve`; killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

impl Server {
    fn start(config: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("dir");
        let cache = isolated_cache();
        let path = dir.path().join("sandrun.toml");
        std::fs::write(&path, config).expect("config");
        let mut command = sandrun();
        command
            .env("SANDRUN_CACHE_DIR", cache.path())
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"));
        let mut child = command.spawn().expect("start sandrun serve");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no listening line: {line:?}"));
        Server {
            child,
            port,
            _dir: dir,
            _cache: cache,
        }
    }

    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> Response {
        let body = body.map(Value::to_string);
        self.raw(method, path, key, body.as_deref())
    }

    fn raw(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Response {
        http(self.port, method, path, key, body)
    }

    /// Polls an async invocation until it is done.
    fn wait_done(&self, id: &str, key: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.call("GET", &format!("/v1/invocations/{id}"), Some(key), None);
            assert_eq!(response.status, 200, "{}", response.body);
            let record = response.json();
            if record["state"] == "done" {
                return record;
            }
            assert!(Instant::now() < deadline, "not done in time: {record}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self._dir.path().join("stderr")).unwrap_or_default();
            eprintln!("--- sandrun serve's log:\n{log}");
        }
    }
}

/// One HTTP/1.1 exchange with the server on `port` (a client of our own:
/// the tests need nothing but the standard library to speak HTTP).
fn http(port: u16, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    Response::parse(&String::from_utf8_lossy(&raw))
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

impl Response {
    fn parse(raw: &str) -> Response {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Response {
            status,
            headers: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    fn error(&self) -> (String, String) {
        let json = self.json();
        (
            json["error"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            json["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }
}

fn handler_request(script: &str, payload: Value) -> Value {
    json!({"script": script, "handler": "handler", "payload": payload})
}

const SPIN: &str = "while True:\n    pass\n";

#[test]
fn health_readiness_metrics_and_the_openapi_document() {
    let server = Server::start(&config("", ""), &[], &[]);
    let health = server.call("GET", "/healthz", None, None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(server.call("GET", "/readyz", None, None).status, 200);
    let ran = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": "print('hi')"})),
    );
    assert_eq!(ran.json()["stdout"], "hi\n");
    // The slot is freed just after the answer is sent: wait for the gauge.
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = server.call("GET", "/metrics", None, None);
        if metrics.body.contains("sandrun_running_sandboxes 0") || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(metrics.status, 200);
    for line in [
        "sandrun_invocations_total{tenant=\"zeta\",status=\"success\"} 1",
        "sandrun_running_sandboxes 0",
        "sandrun_queue_depth{tenant=\"acme\"} 0",
        "sandrun_run_seconds_count{tenant=\"zeta\"} 1",
        "sandrun_source_cache_misses_total 1",
    ] {
        assert!(
            metrics.body.contains(line),
            "{line} missing in\n{}",
            metrics.body
        );
    }
    let openapi = server.call("GET", "/v1/openapi.json", None, None).json();
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/v1/invocations",
        "/v1/invocations/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path}");
    }
    let missing = server.call("GET", "/v2/nothing", None, None);
    assert_eq!(missing.status, 404);
}

#[test]
fn sync_invocations_return_the_run_result_for_handlers_commands_and_zips() {
    let server = Server::start(
        &config("", "allowed_sources = [\"inline\", \"zip\"]"),
        &[],
        &[],
    );
    let response = server.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&handler_request("def handler(event, context):\n    print('working')\n    return {'n': event['n'] + 1}\n", json!({"n": 41}))),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let result = response.json();
    assert_eq!(
        (result["status"].as_str(), &result["payload"]),
        (Some("success"), &json!({"n": 42}))
    );
    assert_eq!(result["stdout"], "working\n");
    assert_eq!(result["source"]["kind"], "inline");
    assert!(result["queue_ms"].as_f64().is_some());
    let again = server.call("POST", "/v1/invocations", Some(ACME_KEY), Some(&handler_request("def handler(event, context):\n    print('working')\n    return {'n': event['n'] + 1}\n", json!({"n": 1}))));
    assert_eq!(again.json()["payload"], json!({"n": 2}));
    assert!(
        server
            .call("GET", "/metrics", None, None)
            .body
            .contains("sandrun_source_cache_hits_total 1")
    );

    let zip = {
        use base64::Engine as _;
        let mut buffer = std::io::Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        for (name, text) in [
            (
                "main.py",
                "import sys, helper\nprint(helper.twice(sys.argv[1]))\n",
            ),
            ("helper.py", "def twice(s):\n    return s * 2\n"),
        ] {
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .expect("file");
            writer.write_all(text.as_bytes()).expect("write");
        }
        writer.finish().expect("finish");
        base64::engine::general_purpose::STANDARD.encode(buffer.into_inner())
    };
    let result = server
        .call(
            "POST",
            "/v1/invocations",
            Some(ACME_KEY),
            Some(&json!({"zip_base64": zip, "command_line": "main.py ab"})),
        )
        .json();
    assert_eq!(
        (result["status"].as_str(), result["stdout"].as_str()),
        (Some("success"), Some("abab\n"))
    );

    let failed = server.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&json!({"script": "raise ValueError('bad value')"})),
    );
    assert_eq!(
        failed.status, 200,
        "a failing script is a result, not an HTTP error"
    );
    assert_eq!(failed.json()["error"]["type"], "ValueError");

    for (source, kind) in [
        ("https://example.com/x.py", "https"),
        ("/etc/passwd", "local"),
        ("s3://bucket/x.py", "s3"),
    ] {
        let refused = server.call(
            "POST",
            "/v1/invocations",
            Some(ACME_KEY),
            Some(&json!({"source": source})),
        );
        assert_eq!(refused.status, 403, "{source}: {}", refused.body);
        assert!(
            refused
                .error()
                .1
                .contains(&format!("source kind \"{kind}\" is not allowed")),
            "{}",
            refused.body
        );
    }
}

#[test]
fn keys_are_checked_and_tenants_never_see_each_others_invocations() {
    let server = Server::start(&config("", ""), &[], &[]);
    let body = json!({"script": "print(1)"});
    let none = server.call("POST", "/v1/invocations", None, Some(&body));
    assert_eq!(none.status, 401);
    assert!(
        none.headers.contains("www-authenticate: bearer"),
        "{}",
        none.headers
    );
    let wrong = server.call("POST", "/v1/invocations", Some("not-a-key"), Some(&body));
    assert_eq!(
        (wrong.status, wrong.error().0.as_str()),
        (401, "Unauthorized")
    );

    let accepted = server.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&json!({"script": "print('mine')", "async": true})),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["id"].as_str().expect("id").to_string();
    let record = server.wait_done(&id, ACME_KEY);
    assert_eq!(record["result"]["stdout"], "mine\n");
    for method in ["GET", "DELETE"] {
        let other = server.call(
            method,
            &format!("/v1/invocations/{id}"),
            Some(ZETA_KEY),
            None,
        );
        assert_eq!(other.status, 404, "{method}: {}", other.body);
        assert!(!other.body.contains("mine"));
    }
    assert_eq!(
        server
            .call("GET", &format!("/v1/invocations/{id}"), None, None)
            .status,
        401
    );
    assert_eq!(
        server
            .call(
                "GET",
                "/v1/invocations/../../etc/passwd",
                Some(ACME_KEY),
                None
            )
            .status,
        404
    );
}

#[test]
fn ceilings_refuse_and_a_full_queue_answers_429_with_retry_after() {
    let server = Server::start(&config("", ""), &[], &[]);
    let over = server.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&json!({"script": "print(1)", "limits": {"timeout_secs": 60}})),
    );
    assert_eq!(over.status, 400);
    assert!(
        over.error()
            .1
            .contains("limits.timeout_secs 60 is above tenant acme's ceiling of 10"),
        "{}",
        over.body
    );
    let memory = server.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&json!({"script": "print(1)", "limits": {"memory_mib": 512}})),
    );
    assert!(
        memory.error().1.contains("memory_mib 512"),
        "{}",
        memory.body
    );

    // acme runs one at a time and queues one: the third is refused.
    let spin = json!({"script": SPIN, "async": true, "limits": {"timeout_secs": 3}});
    let first = server.call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin));
    let second = server.call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin));
    assert_eq!((first.status, second.status), (202, 202));
    let third = server.call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin));
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(third.headers.contains("retry-after: "), "{}", third.headers);
    assert_eq!(third.error().0, "TooManyRequests");
    // Another tenant is not held up by acme's queue.
    let zeta = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": "print('zeta')"})),
    );
    assert_eq!(zeta.json()["stdout"], "zeta\n");
    // The deadline starts when the guest starts: the queued one also runs its full 3 s.
    let second_id = second.json()["id"].as_str().expect("id").to_string();
    let record = server.wait_done(&second_id, ACME_KEY);
    assert_eq!(record["result"]["status"], "timed_out");
    assert!(
        record["result"]["queue_ms"].as_f64().unwrap_or_default() > 2000.0,
        "{record}"
    );
    assert!(
        record["result"]["stats"]["duration_ms"]
            .as_f64()
            .unwrap_or_default()
            >= 3000.0,
        "{record}"
    );
}

#[test]
fn async_invocations_can_be_cancelled_queued_or_running() {
    let server = Server::start(&config("", ""), &[], &[]);
    let spin = json!({"script": SPIN, "async": true});
    let running = server
        .call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin))
        .json();
    let queued = server
        .call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin))
        .json();
    std::thread::sleep(Duration::from_millis(300));
    for record in [&queued, &running] {
        let id = record["id"].as_str().expect("id");
        let response = server.call(
            "DELETE",
            &format!("/v1/invocations/{id}"),
            Some(ACME_KEY),
            None,
        );
        assert_eq!(response.status, 202, "{}", response.body);
        let done = server.wait_done(id, ACME_KEY);
        assert_eq!(done["result"]["status"], "cancelled", "{done}");
        let again = server.call(
            "DELETE",
            &format!("/v1/invocations/{id}"),
            Some(ACME_KEY),
            None,
        );
        assert_eq!(again.status, 409);
    }
}

#[test]
fn malformed_requests_get_400_naming_the_problem_and_large_ones_413() {
    let server = Server::start(&config("", ""), &[], &[]);
    let broken = server.raw(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some("{\"script\": "),
    );
    assert_eq!(
        (broken.status, broken.error().0.as_str()),
        (400, "BadRequest")
    );
    let unknown = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": "print(1)", "timeout": 5})),
    );
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.error().1.contains("unknown field `timeout`"),
        "{}",
        unknown.body
    );
    let wrong_type = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": 42})),
    );
    assert!(
        wrong_type.error().1.contains("script"),
        "{}",
        wrong_type.body
    );
    let two = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": "print(1)", "source": "x.py"})),
    );
    assert!(two.error().1.contains("exactly one of source, source_type"));
    let bad_zip = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"zip_base64": "UEsDBAo=", "command_line": "main.py"})),
    );
    assert_eq!(bad_zip.status, 400, "{}", bad_zip.body);
    let big = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": format!("# {}\nprint(1)", "x".repeat(70_000))})),
    );
    assert_eq!(
        (big.status, big.error().0.as_str()),
        (413, "PayloadTooLarge")
    );
}

#[test]
fn guests_that_trap_exhaust_memory_or_flood_output_do_not_hurt_the_others() {
    let server = Server::start(&config("", ""), &[], &[]);
    let bad = [
        json!({"script": "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)\n"}),
        json!({"script": "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n", "limits": {"memory_mib": 64}}),
        json!({"script": "while True:\n    print('x' * 1000)\n", "limits": {"max_output_bytes": 4096, "timeout_secs": 2}}),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = bad
            .iter()
            .map(|body| {
                scope.spawn(|| server.call("POST", "/v1/invocations", Some(ZETA_KEY), Some(body)))
            })
            .collect();
        let good = server.call(
            "POST",
            "/v1/invocations",
            Some(ACME_KEY),
            Some(&handler_request(
                "def handler(e, c):\n    return 'fine'\n",
                json!({}),
            )),
        );
        assert_eq!(good.json()["payload"], "fine");
        let results: Vec<Value> = handles
            .into_iter()
            .map(|h| h.join().expect("thread").json())
            .collect();
        assert_ne!(results[0]["status"], "success", "{}", results[0]);
        assert_eq!(
            results[1]["error"]["type"], "MemoryLimitExceeded",
            "{}",
            results[1]
        );
        assert_eq!(results[2]["truncated"]["stdout"], true, "{}", results[2]);
        assert!(results[2]["stdout"].as_str().unwrap_or_default().len() <= 4096);
    });
    assert_eq!(server.call("GET", "/healthz", None, None).status, 200);
    let after = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"script": "print('still here')"})),
    );
    assert_eq!(after.json()["stdout"], "still here\n");
}

#[test]
fn sigterm_finishes_or_cancels_everything_in_flight_and_loses_nothing() {
    let mut server = Server::start(&config("", ""), &[], &[]);
    let quick = server
        .call(
            "POST",
            "/v1/invocations",
            Some(ZETA_KEY),
            Some(&json!({"script": "import time\nprint('quick')", "async": true})),
        )
        .json();
    let spin = json!({"script": SPIN, "async": true});
    let running = server
        .call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin))
        .json();
    let queued = server
        .call("POST", "/v1/invocations", Some(ACME_KEY), Some(&spin))
        .json();
    let port = server.port;
    let sync = std::thread::spawn(move || {
        let body = json!({"script": SPIN}).to_string();
        http(port, "POST", "/v1/invocations", Some(ZETA_KEY), Some(&body))
    });
    std::thread::sleep(Duration::from_millis(500));
    let results_dir = server._cache.path().join("results/invocations");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let sync = sync.join().expect("sync request");
    assert_eq!(sync.status, 200, "{}", sync.body);
    assert_eq!(sync.json()["status"], "cancelled");
    let read = |record: &Value| -> Value {
        let id = record["id"].as_str().expect("id");
        serde_json::from_slice(
            &std::fs::read(results_dir.join(format!("{id}.json"))).expect("a record"),
        )
        .expect("json")
    };
    assert_eq!(read(&quick)["result"]["stdout"], "quick\n");
    for record in [&running, &queued] {
        let stored = read(record);
        assert_eq!(stored["state"], "done", "{stored}");
        assert_eq!(stored["result"]["status"], "cancelled", "{stored}");
    }
}

#[test]
fn two_replicas_share_async_results_through_s3() {
    let s3 = servers::s3_server();
    s3.create_bucket("results");
    let envs = s3.credentials();
    let extra = format!("s3_endpoint = \"{}\"", s3.endpoint);
    let args = ["--result-store", "s3://results/fleet"];
    let one = Server::start(&config(&extra, ""), &args, &envs);
    let two = Server::start(&config(&extra, ""), &args, &envs);
    let accepted = one.call(
        "POST",
        "/v1/invocations",
        Some(ACME_KEY),
        Some(&json!({"script": "print('from one')", "async": true})),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["id"].as_str().expect("id").to_string();
    let record = two.wait_done(&id, ACME_KEY);
    assert_eq!(record["result"]["stdout"], "from one\n");
    assert!(Path::new(&s3.root.join(format!("results/fleet/invocations/{id}.json"))).is_file());
    assert_eq!(
        two.call(
            "GET",
            &format!("/v1/invocations/{id}"),
            Some(ZETA_KEY),
            None
        )
        .status,
        404
    );

    // Cancelled through the other replica: the one running it polls the store.
    let spin = one
        .call(
            "POST",
            "/v1/invocations",
            Some(ACME_KEY),
            Some(&json!({"script": SPIN, "async": true})),
        )
        .json();
    let spin_id = spin["id"].as_str().expect("id");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        two.call(
            "DELETE",
            &format!("/v1/invocations/{spin_id}"),
            Some(ACME_KEY),
            None
        )
        .status,
        202
    );
    let record = two.wait_done(spin_id, ACME_KEY);
    assert_eq!(record["result"]["status"], "cancelled", "{record}");
}

#[test]
fn a_tenants_secrets_and_private_sources_stay_its_own() {
    let root = tempfile::tempdir().expect("root");
    let sha = "4444444444444444444444444444444444444444";
    let script: &[u8] = b"def handler(event, context):\n    return 'private code ran'\n";
    servers::github_repo(
        root.path(),
        "octo",
        "private",
        &[("main", sha)],
        &[(sha, &[("tool.py", script)])],
    );
    let api = servers::fake_github(root.path(), Some("gh-token-value"), "normal");
    let server_extra = format!(
        "github_api_url = \"{}\"\nallow_insecure_http = true",
        api.url
    );
    let both = "allowed_sources = [\"inline\", \"github\"]\nallowed_hosts = [\"octo\"]\n";
    let text = config(
        &server_extra,
        &format!("{both}[tenants.secrets]\ngh = \"gh-token-value\"\n"),
    )
    .replace("max_queue = 8\n", &format!("max_queue = 8\n{both}"));
    let server = Server::start(&text, &[], &[]);
    let request = json!({
        "source_type": "GitHub",
        "source_info": json!({"owner": "octo", "repository": "private", "path": "tool.py", "tokenInfo": "{{ssm-secure:gh}}"}).to_string(),
        "handler": "handler",
    });
    let mine = server.call("POST", "/v1/invocations", Some(ACME_KEY), Some(&request));
    assert_eq!(mine.json()["payload"], "private code ran", "{}", mine.body);
    // zeta names the same secret: it is not zeta's.
    let theirs = server.call("POST", "/v1/invocations", Some(ZETA_KEY), Some(&request));
    assert_eq!(theirs.status, 400, "{}", theirs.body);
    assert!(
        theirs.body.contains("not one of this tenant's secrets"),
        "{}",
        theirs.body
    );
    // Nor does acme's cached copy reach zeta without a token.
    let plain = json!({"source": "github:octo/private/tool.py", "handler": "handler"});
    let cached = server.call("POST", "/v1/invocations", Some(ZETA_KEY), Some(&plain));
    assert_eq!(cached.status, 400, "{}", cached.body);
    assert!(!cached.body.contains("private code ran"));
    let outside = server.call(
        "POST",
        "/v1/invocations",
        Some(ZETA_KEY),
        Some(&json!({"source": "github:someone/else/x.py"})),
    );
    assert_eq!(outside.status, 403, "{}", outside.body);
}

#[test]
fn sources_that_would_use_the_servers_own_files_keys_or_buckets_are_refused() {
    let open = "allowed_sources = [\"https\", \"git\", \"s3\"]\n";
    let server = Server::start(
        &config("result_store = \"s3://results/fleet\"", open),
        &["--result-store", "/tmp/unused-result-store"],
        &[],
    );
    let cases = [
        ("http://example.com/x.py", "only https"),
        ("git+file:///etc/repo", "https:// URLs"),
        ("git+ssh://git@example.com/repo.git", "https:// URLs"),
        ("s3://any-bucket/x.py", "allowed_hosts name"),
    ];
    for (source, expected) in cases {
        let refused = server.call(
            "POST",
            "/v1/invocations",
            Some(ACME_KEY),
            Some(&json!({"source": source})),
        );
        assert_eq!(refused.status, 403, "{source}: {}", refused.body);
        assert!(
            refused.error().1.contains(expected),
            "{source}: {}",
            refused.body
        );
    }
}
