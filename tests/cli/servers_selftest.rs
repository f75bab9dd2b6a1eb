//! Checks that the loopback test servers in `servers.rs` start and answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::servers::{
    fake_github, git_commit, git_daemon, git_repo, github_repo, http_server, requests, s3_server,
};

/// One HTTP/1.1 response: status, raw header block, body (not de-chunked).
struct Response {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url` (plain http) with extra `headers`, over a fresh connection.
fn get(url: &str, headers: &[(&str, &str)]) -> Response {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).expect("connect to the test server");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[test]
fn servers_fake_github() {
    let root = tempfile::tempdir().expect("temp dir");
    let (one, two) = ("1".repeat(40), "2".repeat(40));
    let big = vec![b'x'; 1024 * 1024 + 1];
    github_repo(
        root.path(),
        "octo",
        "tools",
        &[("main", &one), ("dev", &two)],
        &[
            (
                &one,
                &[("hello.py", b"print('hi')\n"), ("pkg/mod.py", b"x = 1\n")],
            ),
            (&two, &[("hello.py", b"print('dev')\n"), ("big.bin", &big)]),
        ],
    );

    let github = fake_github(root.path(), None, "normal");
    let base = format!("{}/repos/octo/tools", github.url);
    let file = get(&format!("{base}/contents/hello.py"), &[]);
    assert_eq!(file.status, 200, "{}", file.text());
    assert_eq!(
        file.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let json: serde_json::Value = serde_json::from_slice(&file.body).expect("JSON");
    assert_eq!(json["type"], "file");
    assert_eq!(json["encoding"], "base64");
    assert_eq!(json["content"], "cHJpbnQoJ2hpJykK\n");
    // `printf "print('hi')\n" | git hash-object --stdin`
    assert_eq!(json["sha"], "9f1b437537a2acdadafd3174f6f0af9c1a04f5e4");

    let raw = get(
        &format!("{base}/contents/hello.py?ref=dev"),
        &[("Accept", "application/vnd.github.raw+json")],
    );
    assert_eq!((raw.status, raw.text().as_str()), (200, "print('dev')\n"));
    let big = get(&format!("{base}/contents/big.bin?ref={two}"), &[]);
    let json: serde_json::Value = serde_json::from_slice(&big.body).expect("JSON");
    assert_eq!(
        (&json["encoding"], &json["content"]),
        (&"none".into(), &"".into())
    );

    let listing = get(&format!("{base}/contents/?ref=main"), &[]);
    let json: serde_json::Value = serde_json::from_slice(&listing.body).expect("JSON");
    let names: Vec<_> = json
        .as_array()
        .expect("a folder listing")
        .iter()
        .map(|entry| format!("{} {}", entry["type"], entry["name"]))
        .collect();
    assert_eq!(names, [r#""file" "hello.py""#, r#""dir" "pkg""#]);

    let sha = get(
        &format!("{base}/commits/dev"),
        &[("Accept", "application/vnd.github.sha")],
    );
    assert_eq!(sha.text(), two);
    assert_eq!(get(&format!("{base}/commits/nope"), &[]).status, 422);
    assert_eq!(get(&format!("{base}/contents/nope.py"), &[]).status, 404);
    assert!(
        get(&format!("{base}/contents/hello.py"), &[])
            .header("x-ratelimit-remaining")
            .is_some_and(|n| n != "0")
    );
    assert_eq!(github.requests().len(), 8, "{:?}", github.requests());
    assert_eq!(
        github.requests()[0],
        "GET /repos/octo/tools/contents/hello.py AUTH=no"
    );
    assert!(github.stderr().is_empty(), "{}", github.stderr());

    let private = fake_github(root.path(), Some("s3cret"), "normal");
    let url = format!("{}/repos/octo/tools/contents/hello.py", private.url);
    assert_eq!(get(&url, &[]).status, 404);
    assert_eq!(get(&url, &[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(get(&url, &[("Authorization", "Bearer s3cret")]).status, 200);
    assert_eq!(get(&url, &[("Authorization", "token s3cret")]).status, 200);
    assert_eq!(
        requests(&private.log)[3],
        "GET /repos/octo/tools/contents/hello.py AUTH=yes"
    );

    let forbidden = fake_github(root.path(), None, "forbidden");
    let response = get(
        &format!("{}/repos/octo/tools/contents/hello.py", forbidden.url),
        &[],
    );
    assert_eq!(response.status, 403);
    let limited = fake_github(root.path(), None, "rate-limited");
    let response = get(
        &format!("{}/repos/octo/tools/contents/hello.py", limited.url),
        &[],
    );
    assert_eq!(response.status, 403);
    assert_eq!(response.header("x-ratelimit-remaining"), Some("0"));
}

#[test]
fn servers_http() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(root.path().join("dir")).expect("mkdir");
    std::fs::write(root.path().join("dir/a.txt"), "hello\n").expect("write");

    let server = http_server(root.path(), false);
    assert!(server.ca_cert.is_none());
    let url = |path: &str| format!("{}{path}", server.url);
    let file = get(&url("/dir/a.txt"), &[]);
    assert_eq!((file.status, file.text().as_str()), (200, "hello\n"));
    assert_eq!(file.header("content-length"), Some("6"));
    let etag = file.header("etag").expect("an ETag");
    assert_eq!(
        get(&url("/dir/a.txt"), &[("If-None-Match", etag)]).status,
        304
    );
    let last_modified = file.header("last-modified").expect("a Last-Modified");
    let response = get(&url("/dir/a.txt"), &[("If-Modified-Since", last_modified)]);
    assert_eq!(response.status, 304);

    let redirect = get(&url("/redirect/2/dir/a.txt"), &[]);
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("location"), Some("/redirect/1/dir/a.txt"));
    let redirect = get(&url("/redirect/1/dir/a.txt"), &[]);
    assert_eq!(redirect.header("location"), Some("/dir/a.txt"));
    assert_eq!(get(&url("/flaky/1/dir/a.txt"), &[]).status, 503);
    assert_eq!(get(&url("/flaky/1/dir/a.txt"), &[]).status, 200);
    assert_eq!(get(&url("/status/418"), &[]).status, 418);
    let chunked = get(&url("/chunked/dir/a.txt"), &[]);
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.text(), "6\r\nhello\n\r\n0\r\n\r\n");
    assert_eq!(get(&url("/slow/0.1/dir/a.txt"), &[]).text(), "hello\n");
    assert_eq!(get(&url("/missing"), &[]).status, 404);
    assert_eq!(server.requests().len(), 11);
    assert!(server.stderr().is_empty(), "{}", server.stderr());

    // HTTPS, checked with Python's verifying client against the test CA.
    let tls = http_server(root.path(), true);
    let ca = tls.ca_cert.as_ref().expect("a CA certificate");
    assert!(tls.url.starts_with("https://127.0.0.1:"));
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("{}/dir/a.txt", tls.url).replace("127.0.0.1", host);
        let script = "import ssl, sys, urllib.request as u\n\
                      c = ssl.create_default_context(cafile=sys.argv[2])\n\
                      sys.stdout.write(u.urlopen(sys.argv[1], context=c).read().decode())";
        let output = Command::new("python3")
            .args(["-c", script, &url])
            .arg(ca)
            .output()
            .expect("run python3");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "hello\n",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(requests(&tls.log), ["GET /dir/a.txt", "GET /dir/a.txt"]);
}

#[test]
fn servers_git_daemon() {
    let base = tempfile::tempdir().expect("temp dir");
    let repo = base.path().join("scripts");
    let first = git_repo(&repo, &[("main.py", "print('one')\n"), ("lib/util.py", "")]);
    assert_eq!(
        first,
        git_repo(
            &base.path().join("again"),
            &[("main.py", "print('one')\n"), ("lib/util.py", "")]
        )
    );
    let second = git_commit(&repo, &[("main.py", "print('two')\n")]);
    assert_ne!(first, second);

    let daemon = git_daemon(base.path());
    assert!(daemon.url.starts_with("git://127.0.0.1:") && daemon.url.ends_with('/'));
    let output = Command::new("git")
        .args(["ls-remote", &format!("{}scripts", daemon.url)])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git ls-remote");
    let refs = String::from_utf8_lossy(&output.stdout);
    assert!(
        refs.contains(&format!("{second}\trefs/heads/main")),
        "{refs}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// HMAC-SHA256.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The current UTC time as SigV4's `YYYYMMDDTHHMMSSZ`.
fn amz_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// A SigV4-signed `GET endpoint/path` (path-style, region us-east-1).
fn s3_get(endpoint: &str, path: &str, access_key: &str, secret_key: &str) -> Response {
    let host = endpoint
        .strip_prefix("http://")
        .expect("an http:// endpoint");
    let date = amz_date();
    let empty = hex::encode(Sha256::digest(b""));
    let canonical = format!(
        "GET\n{path}\n\nhost:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{date}\n\n\
         host;x-amz-content-sha256;x-amz-date\n{empty}"
    );
    let scope = format!("{}/us-east-1/s3/aws4_request", &date[..8]);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{secret_key}").as_bytes(),
        &date.as_bytes()[..8],
    );
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
         SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
    );
    get(
        &format!("{endpoint}{path}"),
        &[
            ("x-amz-date", &date),
            ("x-amz-content-sha256", &empty),
            ("Authorization", &authorization),
        ],
    )
}

#[test]
fn servers_s3() {
    let s3 = s3_server();
    s3.create_bucket("empty");
    s3.put("bucket", "dir/script.py", b"print('s3')\n");
    assert!(s3.root.join("bucket/dir/script.py").is_file());
    let (ak, sk) = (s3.access_key.as_str(), s3.secret_key.as_str());

    let object = s3_get(&s3.endpoint, "/bucket/dir/script.py", ak, sk);
    assert_eq!(object.status, 200, "{}\n{}", object.text(), s3.stderr());
    assert_eq!(object.text(), "print('s3')\n");
    assert_eq!(
        s3_get(&s3.endpoint, "/bucket/missing.py", ak, sk).status,
        404
    );
    assert_eq!(s3_get(&s3.endpoint, "/nobucket/x.py", ak, sk).status, 404);
    let wrong = s3_get(&s3.endpoint, "/bucket/dir/script.py", ak, "wrong-secret");
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    assert!(
        wrong.text().contains("SignatureDoesNotMatch"),
        "{}",
        wrong.text()
    );
    let anonymous = get(&format!("{}/bucket/dir/script.py", s3.endpoint), &[]);
    assert_eq!(anonymous.status, 403, "{}", anonymous.text());
    assert!(Path::new(&s3.root).join("empty").is_dir());
}
