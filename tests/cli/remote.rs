//! Remote sources against real servers on loopback: an HTTP(S) server, the
//! S3-compatible s3s-fs, `git daemon`, and a faithful local server of
//! GitHub's contents API (no real GitHub is reachable from the tests).

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::harness::{isolated_cache, json_of, sandrun};
use crate::servers::{self, requests};

const HANDLER: &str =
    "def handler(event, context):\n    print('remote handler ran')\n    return {'got': event}\n";
const MAIN: &str = "import sys\nimport helper\nprint('main', sys.argv[1:], helper.VALUE)\n";
const HELPER: &str = "VALUE = 'from the folder'\n";

/// Runs `sandrun <args>` with its own source cache.
fn sandrun_in(cache: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = sandrun();
    command.env("SANDRUN_CACHE_DIR", cache).args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("run sandrun")
}

/// `sandrun run <args> --json`, parsed.
fn run_in(cache: &Path, args: &[&str], envs: &[(&str, &str)]) -> (Value, Output) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = sandrun_in(cache, &all, envs);
    let result = json_of(&output);
    (result, output)
}

fn assert_fails_with(result: &Value, output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{result}\n{stderr}");
    assert_eq!(result["status"], "error", "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(expected),
        "expected {expected:?} in {message:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        std::io::Write::write_all(&mut zip, text.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish");
    buffer.into_inner()
}

mod https {
    use super::*;

    fn site() -> (tempfile::TempDir, servers::HttpServer) {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("handler.py"), HANDLER).expect("write");
        std::fs::write(root.path().join("big.py"), "#".repeat(10_000)).expect("write");
        std::fs::write(
            root.path().join("bundle.zip"),
            zip_of(&[("mainFile.py", MAIN), ("helper.py", HELPER)]),
        )
        .expect("write");
        let server = servers::http_server(root.path(), true);
        (root, server)
    }

    fn ca(server: &servers::HttpServer) -> String {
        server.ca_cert.as_ref().expect("tls").display().to_string()
    }

    #[test]
    fn https_file_runs_a_handler_and_names_its_source() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let url = format!("{}/handler.py", server.url);
        let ca = ca(&server);
        let (result, _) = run_in(
            cache.path(),
            &[
                &url,
                "--handler",
                "handler",
                "--payload",
                "[1]",
                "--ca-cert",
                &ca,
            ],
            &[],
        );
        assert_eq!(result["status"], "success", "{result}");
        assert_eq!(result["payload"], serde_json::json!({"got": [1]}));
        assert_eq!(result["stdout"], "remote handler ran\n");
        assert_eq!(result["source"]["kind"], "https");
        assert_eq!(result["source"]["location"], url);
        let digest = format!("sha256:{}", sha256_hex(HANDLER.as_bytes()));
        assert_eq!(result["source"]["digest"], digest);
    }

    #[test]
    fn https_zip_runs_a_command_line_that_uses_its_other_files() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let url = format!("{}/bundle.zip", server.url);
        let ca = ca(&server);
        let (result, _) = run_in(
            cache.path(),
            &[
                &url,
                "--command-line",
                "mainFile.py a1 a2",
                "--ca-cert",
                &ca,
            ],
            &[],
        );
        assert_eq!(
            result["stdout"], "main ['a1', 'a2'] from the folder\n",
            "{result}"
        );
        assert_eq!(result["exit_code"], 0);
    }

    #[test]
    fn untrusted_certificate_is_refused() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let url = format!("{}/handler.py", server.url);
        let (result, output) = run_in(cache.path(), &[&url, "--handler", "handler"], &[]);
        assert_fails_with(&result, &output, "certificate");
    }

    #[test]
    fn pin_mismatch_refuses_and_runs_nothing() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let wrong = format!("{}/handler.py#sha256={}", server.url, "0".repeat(64));
        let (result, output) = run_in(
            cache.path(),
            &[&wrong, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_fails_with(&result, &output, "not the pinned");
        assert_eq!(result["stdout"], "", "nothing ran");
    }

    #[test]
    fn pinned_source_is_served_from_the_cache_without_a_request() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let pinned = format!(
            "{}/handler.py#sha256={}",
            server.url,
            sha256_hex(HANDLER.as_bytes())
        );
        let (first, _) = run_in(
            cache.path(),
            &[&pinned, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_eq!(first["status"], "success", "{first}");
        let before = requests(&server.log).len();
        let (second, _) = run_in(
            cache.path(),
            &[&pinned, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_eq!(second["status"], "success", "{second}");
        assert_eq!(
            requests(&server.log).len(),
            before,
            "a pinned, cached source made a request"
        );
    }

    #[test]
    fn size_cap_stops_large_downloads_with_or_without_a_length() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        for path in ["big.py", "chunked/big.py"] {
            let url = format!("{}/{path}", server.url);
            let (result, output) = run_in(
                cache.path(),
                &[&url, "--max-download", "1000", "--ca-cert", &ca],
                &[],
            );
            assert_fails_with(&result, &output, "larger than the limit of 1000 bytes");
        }
    }

    #[test]
    fn redirects_are_followed_up_to_the_limit() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let near = format!("{}/redirect/3/handler.py", server.url);
        let (ok, _) = run_in(
            cache.path(),
            &[&near, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_eq!(ok["status"], "success", "{ok}");
        let far = format!("{}/redirect/6/handler.py", server.url);
        let (result, output) = run_in(
            cache.path(),
            &[&far, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_fails_with(&result, &output, "more than 5 redirects");
    }

    #[test]
    fn transient_failures_are_retried_and_404_is_not() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let flaky = format!("{}/flaky/2/handler.py", server.url);
        let (ok, _) = run_in(
            cache.path(),
            &[&flaky, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_eq!(ok["status"], "success", "{ok}");
        let flaky_requests = requests(&server.log)
            .iter()
            .filter(|l| l.contains("/flaky/"))
            .count();
        assert_eq!(flaky_requests, 3, "two 503s, then success");
        let missing = format!("{}/missing.py", server.url);
        let (result, output) = run_in(cache.path(), &[&missing, "--ca-cert", &ca], &[]);
        assert_fails_with(&result, &output, "404");
        let missing_requests = requests(&server.log)
            .iter()
            .filter(|l| l.contains("/missing.py"))
            .count();
        assert_eq!(missing_requests, 1, "a 404 is not retried");
    }

    #[test]
    fn slow_downloads_time_out() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let url = format!("{}/slow/5/handler.py", server.url);
        let (result, output) = run_in(
            cache.path(),
            &[&url, "--download-timeout", "1", "--ca-cert", &ca],
            &[],
        );
        assert_fails_with(&result, &output, "timed out");
    }

    #[test]
    fn zip_bombs_fail_clearly() {
        let root = tempfile::tempdir().expect("root");
        // 600 MiB of zeros compress to well under a megabyte.
        let mut buffer = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default().large_file(true);
        zip.start_file("main.py", options).expect("entry");
        let block = vec![0u8; 1 << 20];
        for _ in 0..600 {
            std::io::Write::write_all(&mut zip, &block).expect("write");
        }
        zip.finish().expect("finish");
        std::fs::write(root.path().join("bomb.zip"), buffer.into_inner()).expect("write");
        let mut many = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..10_001 {
            many.start_file(format!("f{i}.py"), zip::write::SimpleFileOptions::default())
                .expect("entry");
        }
        std::fs::write(
            root.path().join("many.zip"),
            many.finish().expect("finish").into_inner(),
        )
        .expect("write");
        let server = servers::http_server(root.path(), true);
        let cache = isolated_cache();
        let ca = ca(&server);
        for (name, expected) in [
            ("bomb.zip", "unpacks to more than the limit"),
            ("many.zip", "entries, more than the limit of 10000"),
        ] {
            let url = format!("{}/{name}", server.url);
            let (result, output) = run_in(
                cache.path(),
                &[&url, "--handler", "main.h", "--ca-cert", &ca],
                &[],
            );
            assert_fails_with(&result, &output, expected);
        }
    }

    #[test]
    fn plain_http_needs_allow_insecure_http() {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("handler.py"), HANDLER).expect("write");
        let server = servers::http_server(root.path(), false);
        let cache = isolated_cache();
        let url = format!("{}/handler.py", server.url);
        let (result, output) = run_in(cache.path(), &[&url, "--handler", "handler"], &[]);
        assert_fails_with(&result, &output, "--allow-insecure-http");
        let (ok, _) = run_in(
            cache.path(),
            &[&url, "--handler", "handler", "--allow-insecure-http"],
            &[],
        );
        assert_eq!(ok["status"], "success", "{ok}");
    }

    #[test]
    fn urls_are_revalidated_and_offline_uses_the_cache() {
        let (root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let url = format!("{}/handler.py", server.url);
        let args = [url.as_str(), "--handler", "handler", "--ca-cert", &ca];
        run_in(cache.path(), &args, &[]);
        let (second, _) = run_in(cache.path(), &args, &[]);
        assert_eq!(second["status"], "success", "{second}");
        assert_eq!(
            requests(&server.log).len(),
            2,
            "one download, one revalidation"
        );
        let mut offline = args.to_vec();
        offline.push("--offline");
        let (third, _) = run_in(cache.path(), &offline, &[]);
        assert_eq!(third["status"], "success", "{third}");
        assert_eq!(requests(&server.log).len(), 2, "--offline made a request");
        // A changed file is picked up on the next online run.
        std::fs::write(
            root.path().join("handler.py"),
            "def handler(e, c):\n    return 'v2'\n",
        )
        .expect("write");
        let (changed, _) = run_in(cache.path(), &args, &[]);
        assert_eq!(changed["payload"], "v2", "{changed}");
        let other = format!("{}/never-fetched.py", server.url);
        let (result, output) = run_in(cache.path(), &[&other, "--offline"], &[]);
        assert_fails_with(&result, &output, "not in the cache");
    }

    #[test]
    fn a_corrupted_cache_entry_is_detected_and_fetched_again() {
        let (_root, server) = site();
        let cache = isolated_cache();
        let ca = ca(&server);
        let url = format!("{}/handler.py", server.url);
        let fetched = sandrun_in(
            cache.path(),
            &["fetch", &url, "--json", "--ca-cert", &ca],
            &[],
        );
        assert!(
            fetched.status.success(),
            "{}",
            String::from_utf8_lossy(&fetched.stderr)
        );
        let fetched: Value = serde_json::from_slice(&fetched.stdout).expect("json");
        let path = fetched["path"].as_str().expect("path");
        std::fs::write(path, "def handler(e, c):\n    return 'tampered'\n").expect("tamper");
        let (result, _) = run_in(
            cache.path(),
            &[&url, "--handler", "handler", "--ca-cert", &ca],
            &[],
        );
        assert_eq!(
            result["payload"],
            serde_json::json!({"got": {}}),
            "{result}"
        );
        assert_eq!(result["source"]["digest"], fetched["digest"]);
    }
}

mod s3 {
    use super::*;

    fn store() -> servers::S3Server {
        let server = servers::s3_server();
        server.put("scripts", "tools/handler.py", HANDLER.as_bytes());
        server.put("scripts", "complex/mainFile.py", MAIN.as_bytes());
        server.put("scripts", "complex/helper.py", HELPER.as_bytes());
        server.put(
            "scripts",
            "bundle.zip",
            &zip_of(&[("mainFile.py", MAIN), ("helper.py", HELPER)]),
        );
        server
    }

    fn creds(server: &servers::S3Server) -> Vec<(&str, &str)> {
        server.credentials()
    }

    #[test]
    fn single_object_runs_a_handler() {
        let server = store();
        let cache = isolated_cache();
        let (result, _) = run_in(
            cache.path(),
            &[
                "s3://scripts/tools/handler.py",
                "--handler",
                "handler",
                "--s3-endpoint",
                &server.endpoint,
            ],
            &creds(&server),
        );
        assert_eq!(result["status"], "success", "{result}");
        assert_eq!(result["source"]["kind"], "s3");
    }

    #[test]
    fn prefix_folder_runs_a_command_line() {
        let server = store();
        let cache = isolated_cache();
        let (result, _) = run_in(
            cache.path(),
            &[
                "s3://scripts/complex/",
                "--command-line",
                "mainFile.py x",
                "--s3-endpoint",
                &server.endpoint,
            ],
            &creds(&server),
        );
        assert_eq!(result["stdout"], "main ['x'] from the folder\n", "{result}");
    }

    #[test]
    fn zip_object_and_the_seed_url_form_work_with_aws_endpoint_url() {
        let server = store();
        let cache = isolated_cache();
        let mut envs = creds(&server);
        envs.push(("AWS_ENDPOINT_URL", server.endpoint.as_str()));
        let (result, _) = run_in(
            cache.path(),
            &[
                "--source-type",
                "S3",
                "--source-info",
                r#"{"path": "https://s3.amazonaws.com/scripts/bundle.zip"}"#,
                "--command-line",
                "mainFile.py seed",
            ],
            &envs,
        );
        assert_eq!(
            result["stdout"], "main ['seed'] from the folder\n",
            "{result}"
        );
    }

    #[test]
    fn a_changed_object_is_fetched_again_and_the_virtual_hosted_url_form_works() {
        let server = store();
        let cache = isolated_cache();
        let source = "https://scripts.s3.us-east-1.amazonaws.com/tools/handler.py";
        let args = [
            source,
            "--handler",
            "handler",
            "--s3-endpoint",
            &server.endpoint,
        ];
        let (first, _) = run_in(cache.path(), &args, &creds(&server));
        assert_eq!(first["status"], "success", "{first}");
        assert_eq!(first["source"]["location"], "s3://scripts/tools/handler.py");
        server.put(
            "scripts",
            "tools/handler.py",
            b"def handler(e, c):\n    return 'changed'\n",
        );
        let (second, _) = run_in(cache.path(), &args, &creds(&server));
        assert_eq!(second["payload"], "changed", "{second}");
        assert_ne!(second["source"]["digest"], first["source"]["digest"]);
    }

    #[test]
    fn objects_over_the_download_cap_are_refused() {
        let server = store();
        server.put("scripts", "big.py", &vec![b'#'; 5000]);
        let cache = isolated_cache();
        let (result, output) = run_in(
            cache.path(),
            &[
                "s3://scripts/big.py",
                "--max-download",
                "1000",
                "--s3-endpoint",
                &server.endpoint,
            ],
            &creds(&server),
        );
        assert_fails_with(
            &result,
            &output,
            "larger than the download limit of 1000 bytes",
        );
    }

    #[test]
    fn missing_key_and_wrong_credentials_are_clear_errors() {
        let server = store();
        let cache = isolated_cache();
        let (result, output) = run_in(
            cache.path(),
            &["s3://scripts/absent.py", "--s3-endpoint", &server.endpoint],
            &creds(&server),
        );
        assert_fails_with(&result, &output, "no such object");
        let (result, output) = run_in(
            cache.path(),
            &[
                "s3://scripts/tools/handler.py",
                "--handler",
                "handler",
                "--s3-endpoint",
                &server.endpoint,
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "AKIAWRONG"),
                ("AWS_SECRET_ACCESS_KEY", "wrong"),
                ("AWS_REGION", "us-east-1"),
            ],
        );
        assert_fails_with(&result, &output, "refused");
    }
}

mod github {
    use super::*;

    const SHA1: &str = "1111111111111111111111111111111111111111";
    const SHA2: &str = "2222222222222222222222222222222222222222";

    fn repo(root: &Path) {
        servers::github_repo(
            root,
            "octo",
            "runbooks",
            &[("main", SHA2)],
            &[
                (
                    SHA1,
                    &[
                        ("scripts/complex/mainFile.py", MAIN.as_bytes()),
                        ("scripts/complex/helper.py", b"VALUE = 'old'\n"),
                    ],
                ),
                (
                    SHA2,
                    &[
                        ("scripts/complex/mainFile.py", MAIN.as_bytes()),
                        ("scripts/complex/helper.py", HELPER.as_bytes()),
                        ("scripts/handler.py", HANDLER.as_bytes()),
                    ],
                ),
            ],
        );
    }

    #[test]
    fn folder_at_a_branch_runs_a_command_line() {
        let root = tempfile::tempdir().expect("root");
        repo(root.path());
        let api = servers::fake_github(root.path(), None, "normal");
        let cache = isolated_cache();
        let (result, _) = run_in(
            cache.path(),
            &[
                "github:octo/runbooks/scripts/complex@main",
                "--command-line",
                "mainFile.py a",
                "--github-api-url",
                &api.url,
                "--allow-insecure-http",
            ],
            &[],
        );
        assert_eq!(result["stdout"], "main ['a'] from the folder\n", "{result}");
        assert_eq!(result["source"]["revision"], SHA2);
    }

    #[test]
    fn file_on_the_default_branch_runs_a_handler() {
        let root = tempfile::tempdir().expect("root");
        repo(root.path());
        let api = servers::fake_github(root.path(), None, "normal");
        let cache = isolated_cache();
        let (result, _) = run_in(
            cache.path(),
            &[
                "github:octo/runbooks/scripts/handler.py",
                "--handler",
                "handler",
                "--payload",
                "{\"k\": 1}",
                "--github-api-url",
                &api.url,
                "--allow-insecure-http",
            ],
            &[],
        );
        assert_eq!(
            result["payload"],
            serde_json::json!({"got": {"k": 1}}),
            "{result}"
        );
        assert_eq!(result["source"]["revision"], SHA2);
        assert!(
            requests(&api.log)
                .iter()
                .any(|line| line.contains("/commits/HEAD"))
        );
    }

    #[test]
    fn seed_form_with_a_secret_token_reads_a_private_repository() {
        let root = tempfile::tempdir().expect("root");
        repo(root.path());
        let api = servers::fake_github(root.path(), Some("t0ken-value"), "normal");
        let cache = isolated_cache();
        let info = r#"{"owner": "octo", "repository": "runbooks", "path": "scripts/handler.py", "getOptions": "branch:main", "tokenInfo": "{{ssm-secure:github-token}}"}"#;
        let args = [
            "--source-type",
            "GitHub",
            "--source-info",
            info,
            "--handler",
            "handler",
            "--github-api-url",
            &api.url,
            "--allow-insecure-http",
        ];
        let (result, output) = run_in(
            cache.path(),
            &args,
            &[("SANDRUN_SECRET_GITHUB_TOKEN", "t0ken-value")],
        );
        assert_eq!(result["status"], "success", "{result}");
        let all_output = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!all_output.contains("t0ken-value"), "the secret leaked");
        let listing = sandrun_in(cache.path(), &["cache", "list", "--json"], &[]);
        assert!(!String::from_utf8_lossy(&listing.stdout).contains("t0ken-value"));

        let (result, output) = run_in(
            cache.path(),
            &args,
            &[("SANDRUN_SECRET_GITHUB_TOKEN", "wrong")],
        );
        assert_fails_with(&result, &output, "rejected the token");
        let (result, output) = run_in(cache.path(), &args, &[]);
        assert_fails_with(&result, &output, "SANDRUN_SECRET_GITHUB_TOKEN");
        let public = [
            "github:octo/runbooks/scripts/handler.py@main",
            "--handler",
            "handler",
            "--github-api-url",
            &api.url,
            "--allow-insecure-http",
        ];
        let (result, output) = run_in(cache.path(), &public, &[]);
        assert_fails_with(&result, &output, "private repository needs a token");
    }

    #[test]
    fn commit_references_are_immutable_and_cost_no_request_when_cached() {
        let root = tempfile::tempdir().expect("root");
        repo(root.path());
        let api = servers::fake_github(root.path(), None, "normal");
        let cache = isolated_cache();
        let source = format!("github:octo/runbooks/scripts/complex@{SHA1}");
        let args = [
            source.as_str(),
            "--command-line",
            "mainFile.py",
            "--github-api-url",
            &api.url,
            "--allow-insecure-http",
        ];
        let (first, _) = run_in(cache.path(), &args, &[]);
        assert_eq!(first["stdout"], "main [] old\n", "{first}");
        let before = requests(&api.log).len();
        let (second, _) = run_in(cache.path(), &args, &[]);
        assert_eq!(second["stdout"], "main [] old\n");
        assert_eq!(
            requests(&api.log).len(),
            before,
            "a cached commit made requests"
        );
    }

    #[test]
    fn forbidden_and_rate_limited_answers_say_what_to_do() {
        let root = tempfile::tempdir().expect("root");
        repo(root.path());
        let cache = isolated_cache();
        for (mode, expected) in [
            ("forbidden", "lacks permission"),
            ("rate-limited", "rate limit"),
        ] {
            let api = servers::fake_github(root.path(), None, mode);
            let (result, output) = run_in(
                cache.path(),
                &[
                    "github:octo/runbooks/scripts/handler.py",
                    "--handler",
                    "handler",
                    "--github-api-url",
                    &api.url,
                    "--allow-insecure-http",
                ],
                &[],
            );
            assert_fails_with(&result, &output, expected);
        }
        let api = servers::fake_github(root.path(), None, "normal");
        let (result, output) = run_in(
            cache.path(),
            &[
                "github:octo/runbooks/no/such/path.py@main",
                "--github-api-url",
                &api.url,
                "--allow-insecure-http",
            ],
            &[],
        );
        assert_fails_with(&result, &output, "404");
    }
}

mod git {
    use super::*;

    #[test]
    fn git_daemon_branch_and_file_commit_sources_run() {
        let base = tempfile::tempdir().expect("base");
        let repo = base.path().join("tools.git");
        let first = servers::git_repo(
            &repo,
            &[
                ("scripts/mainFile.py", MAIN),
                ("scripts/helper.py", HELPER),
                ("one.py", HANDLER),
            ],
        );
        let daemon = servers::git_daemon(base.path());
        let cache = isolated_cache();
        let source = format!("git+{}tools.git@main#path=scripts", daemon.url);
        let (result, _) = run_in(
            cache.path(),
            &[&source, "--command-line", "mainFile.py g"],
            &[],
        );
        assert_eq!(result["stdout"], "main ['g'] from the folder\n", "{result}");
        assert_eq!(result["source"]["revision"], first);

        // The branch moves: the next run picks up the new commit.
        let second = servers::git_commit(&repo, &[("scripts/helper.py", "VALUE = 'moved'\n")]);
        let (moved, _) = run_in(
            cache.path(),
            &[&source, "--command-line", "mainFile.py g"],
            &[],
        );
        assert_eq!(moved["stdout"], "main ['g'] moved\n", "{moved}");
        assert_eq!(moved["source"]["revision"], second);

        // A file at a commit, over git+file://.
        let file_source = format!("git+file://{}@{first}#path=one.py", repo.display());
        let (handler, _) = run_in(cache.path(), &[&file_source, "--handler", "handler"], &[]);
        assert_eq!(handler["status"], "success", "{handler}");

        // Offline: the branch's last commit runs without the daemon.
        drop(daemon);
        let (offline, _) = run_in(
            cache.path(),
            &[&source, "--command-line", "mainFile.py g", "--offline"],
            &[],
        );
        assert_eq!(offline["stdout"], "main ['g'] moved\n", "{offline}");
    }

    #[test]
    fn unknown_branch_and_path_are_clear_errors() {
        let base = tempfile::tempdir().expect("base");
        let repo = base.path().join("tools.git");
        servers::git_repo(&repo, &[("a.py", HANDLER)]);
        let cache = isolated_cache();
        let no_branch = format!("git+file://{}@nope", repo.display());
        let (result, output) = run_in(cache.path(), &[&no_branch, "--handler", "a.handler"], &[]);
        assert_fails_with(&result, &output, "no branch or tag named \"nope\"");
        let no_path = format!("git+file://{}@main#path=missing.py", repo.display());
        let (result, output) = run_in(cache.path(), &[&no_path], &[]);
        assert_fails_with(&result, &output, "does not exist");
    }
}

#[test]
fn concurrent_fetches_of_one_source_share_the_cache_safely() {
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("handler.py"), HANDLER).expect("write");
    let server = servers::http_server(root.path(), false);
    let cache = isolated_cache();
    let url = format!("{}/slow/1/handler.py", server.url);
    let children: Vec<_> = (0..4)
        .map(|_| {
            sandrun()
                .env("SANDRUN_CACHE_DIR", cache.path())
                .args(["fetch", &url, "--allow-insecure-http", "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let digests: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("wait");
            assert!(output.status.success());
            let fetched: Value = serde_json::from_slice(&output.stdout).expect("json");
            fetched["digest"].clone()
        })
        .collect();
    let expected = format!("sha256:{}", sha256_hex(HANDLER.as_bytes()));
    assert!(digests.iter().all(|d| d == &expected), "{digests:?}");
    let blobs = std::fs::read_dir(cache.path().join("sources/blobs"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, 1, "one blob for one content");
}

#[test]
fn cache_list_and_clean() {
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("handler.py"), HANDLER).expect("write");
    let server = servers::http_server(root.path(), false);
    let cache = isolated_cache();
    let url = format!("{}/handler.py", server.url);
    let fetched = sandrun_in(cache.path(), &["fetch", &url, "--allow-insecure-http"], &[]);
    let line = String::from_utf8_lossy(&fetched.stdout).to_string();
    assert!(
        line.contains(&format!("sha256:{}", sha256_hex(HANDLER.as_bytes()))),
        "{line}"
    );
    let listing = sandrun_in(cache.path(), &["cache", "list"], &[]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains(&url));
    let cleaned = sandrun_in(cache.path(), &["cache", "clean"], &[]);
    assert!(cleaned.status.success());
    let listing = sandrun_in(cache.path(), &["cache", "list"], &[]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains("no cached sources"));
}
