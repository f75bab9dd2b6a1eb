//! `sandrun mcp` driven by a real MCP client (rmcp's, over the child's
//! stdio): initialize, tools/list and tools/call, as an agent uses it.

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt as _, TokioChildProcess};
use serde_json::{Value, json};

use crate::harness::{image_dir, isolated_cache};

type Client = RunningService<rmcp::RoleClient, ()>;

async fn connect(cache: &std::path::Path, config: Option<&std::path::Path>) -> Client {
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandrun")).configure(|c| {
        c.arg("mcp")
            .env("SANDRUN_IMAGE_DIR", image_dir())
            .env("SANDRUN_CACHE_DIR", cache)
            .env_remove("CI");
        if let Some(config) = config {
            c.arg("--config").arg(config);
        }
    });
    ().serve(TokioChildProcess::new(command).expect("spawn sandrun mcp"))
        .await
        .expect("initialize")
}

/// Calls a tool; returns (is_error, structured content).
async fn call(client: &Client, tool: &'static str, arguments: Value) -> (bool, Value) {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await
        .expect("tools/call");
    (
        result.is_error == Some(true),
        result.structured_content.unwrap_or(Value::Null),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

#[test]
fn an_agent_runs_python_fresh_and_in_sessions_and_reads_its_files() {
    let cache = isolated_cache();
    runtime().block_on(async {
        let client = connect(cache.path(), None).await;
        let info = client.peer_info().expect("server info");
        let server = info.server_info.as_ref().expect("server_info");
        assert_eq!(server.name, "sandrun");
        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for tool in ["run_python", "run_handler", "open_session", "close_session", "list_files", "read_file"] {
            assert!(names.contains(&tool), "{tool} missing from {names:?}");
        }

        // A fresh sandbox answers like a REPL.
        let (failed, out) = call(&client, "run_python", json!({"code": "print('hi')\nx = 20\nx * 2 + 2"})).await;
        assert!(!failed, "{out}");
        assert_eq!((out["value"].clone(), out["stdout"].clone()), (json!(42), json!("hi\n")));
        // Nothing carries over between fresh calls.
        let (failed, out) = call(&client, "run_python", json!({"code": "x"})).await;
        assert!(failed);
        assert_eq!(out["error"]["type"], "NameError", "{out}");
        assert!(out["error"]["traceback"].as_str().unwrap_or_default().contains("NameError"));

        // Input files land in /tmp.
        let (_, out) = call(&client, "run_python", json!({"code": "open('/tmp/data.csv').read().count(',')", "files": {"data.csv": "a,b\n1,2\n"}})).await;
        assert_eq!(out["value"], 2, "{out}");

        // A session keeps names, imports and files.
        let (_, opened) = call(&client, "open_session", json!({})).await;
        let session = opened["session_id"].as_str().expect("session id").to_string();
        call(&client, "run_python", json!({"code": "import math\nr = 2\nopen('/tmp/out.txt', 'w').write('area')", "session_id": session})).await;
        let (failed, out) = call(&client, "run_python", json!({"code": "round(math.pi * r * r, 2)", "session_id": session})).await;
        assert!(!failed, "{out}");
        assert_eq!(out["value"], 12.57);
        let (_, listing) = call(&client, "list_files", json!({"session_id": session})).await;
        assert_eq!(listing["files"], json!([{"path": "/tmp/out.txt", "bytes": 4}]));
        let (_, file) = call(&client, "read_file", json!({"session_id": session, "path": "/tmp/out.txt"})).await;
        assert_eq!(file["text"], "area");
        let (failed, out) = call(&client, "read_file", json!({"session_id": session, "path": "../../etc/passwd"})).await;
        assert!(failed && !out.to_string().contains("root:"), "{out}");

        // A sandbox has no network.
        let (failed, out) = call(&client, "run_python", json!({"code": "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)"})).await;
        assert!(failed, "{out}");

        let (failed, _) = call(&client, "close_session", json!({"session_id": session})).await;
        assert!(!failed);
        let (failed, out) = call(&client, "run_python", json!({"code": "r", "session_id": session})).await;
        assert!(failed);
        assert!(out["error"]["message"].as_str().unwrap_or_default().contains("open a new one"), "{out}");
        client.cancel().await.expect("close");
    });
}

#[test]
fn run_handler_takes_only_the_sources_the_config_allows() {
    let cache = isolated_cache();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("mcp.toml");
    std::fs::write(
        &config,
        "allowed_sources = [\"local\"]\n[limits]\ntimeout_secs = 5\n",
    )
    .expect("config");
    let hello = crate::harness::repo()
        .join("examples/hello")
        .display()
        .to_string();
    runtime().block_on(async {
        let client = connect(cache.path(), Some(&config)).await;
        let (failed, out) = call(
            &client,
            "run_handler",
            json!({"source": hello, "handler": "main.handler", "payload": {"name": "Agent"}}),
        )
        .await;
        assert!(!failed, "{out}");
        assert_eq!(out["payload"]["greeting"], "Hello, Agent!");
        let (failed, out) = call(
            &client,
            "run_handler",
            json!({"source": "https://example.com/x.py", "handler": "h"}),
        )
        .await;
        assert!(failed);
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not allowed"),
            "{out}"
        );
        let (failed, out) = call(
            &client,
            "run_python",
            json!({"code": "while True:\n    pass"}),
        )
        .await;
        assert!(failed);
        assert_eq!(out["error"]["type"], "Timeout", "{out}");
        client.cancel().await.expect("close");
    });
}

#[test]
fn streamable_http_answers_initialize_with_a_session() {
    use std::io::{BufRead, BufReader, Read, Write};
    let cache = isolated_cache();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sandrun"))
        .args(["mcp", "--http", "127.0.0.1:0"])
        .env("SANDRUN_IMAGE_DIR", image_dir())
        .env("SANDRUN_CACHE_DIR", cache.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sandrun mcp --http");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the address line");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let post = |body: &str, session: Option<&str>| -> String {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        let session = session.map_or(String::new(), |s| format!("Mcp-Session-Id: {s}\r\n"));
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n{session}Connection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let initialize = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#,
        None,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(initialize.starts_with("HTTP/1.1 200"), "{initialize}");
    assert!(initialize.contains("\"name\":\"sandrun\""), "{initialize}");
    assert!(
        initialize.to_ascii_lowercase().contains("mcp-session-id:"),
        "a session id for later requests: {initialize}"
    );
}
