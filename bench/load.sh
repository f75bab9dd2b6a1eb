#!/usr/bin/env bash
# Load benchmark of `sandrun serve` on loopback, with wrk (apt-get install wrk):
#   1. throughput and latency of trivial handler invocations;
#   2. the server's memory with 1,000 concurrent connections;
#   3. a noisy neighbour: one tenant's latency alone, then while another
#      tenant keeps its concurrency ceiling busy with infinite loops.
# Usage: bench/load.sh [SECONDS_PER_SCENARIO]   (SANDRUN=path/to/sandrun to pick a binary)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
sandrun=${SANDRUN:-}
if [[ -z "$sandrun" ]]; then
  cargo build --release -q -p sandrun
  sandrun="${CARGO_TARGET_DIR:-target}/release/sandrun"
fi
command -v wrk >/dev/null || { echo "bench/load.sh needs wrk: apt-get install wrk" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cores=$(nproc)
cat > "$work/sandrun.toml" <<TOML
[server]
max_running = $cores
shutdown_grace_secs = 1

[[tenants]]
id = "quiet"
api_key_sha256 = ["$("$sandrun" hash-key quiet-key)"]
max_concurrent = $cores
max_queue = 4096

[[tenants]]
id = "noisy"
api_key_sha256 = ["$("$sandrun" hash-key noisy-key)"]
max_concurrent = 1
max_queue = 4
[tenants.limits]
timeout_secs = 2
TOML

"$sandrun" serve --config "$work/sandrun.toml" --listen 127.0.0.1:0 \
  --result-store "$work/results" >"$work/stdout" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/stdout" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/stdout")
[[ -n "$url" ]] || { cat "$work/server.log"; exit 1; }

request() { # KEY BODY → a wrk Lua script
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $1"
wrk.body = [[$2]]
LUA
}
request quiet-key '{"script": "def handler(event, context):\n    return {\"n\": event[\"n\"] + 1}\n", "handler": "handler", "payload": {"n": 1}}' >"$work/trivial.lua"
request noisy-key '{"script": "while True:\n    pass\n"}' >"$work/spin.lua"

# Prints "REQ_PER_SEC P50_MS P99_MS ERRORS" from wrk's report.
summarize() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ *50%/ { p50 = ms($2) } /^ *99%/ { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { errors += $NF }
    /Socket errors/ { gsub(",", ""); errors += $NF }
    END { printf "%s %.2f %.2f %s\n", rps, p50, p99, errors + 0 }'
}
run_wrk() { # CONNECTIONS LUA
  wrk -t2 -c"$1" -d"${duration}s" --timeout 30s --latency -s "$2" "$url/v1/invocations" | summarize
}
drain() { # waits until no invocation is queued or running
  for _ in $(seq 600); do
    curl -s "$url/metrics" | awk '/^sandrun_(queue_depth|running_sandboxes)/ { busy += $NF } END { exit busy > 0 }' && return
    sleep 0.1
  done
}
peak_rss_kib() { awk '/VmHWM/ { print $2 }' "/proc/$server/status"; }

run_wrk 8 "$work/trivial.lua" >/dev/null # warm up the source cache and the allocator
read -r rps p50 p99 errors < <(run_wrk 32 "$work/trivial.lua")
echo "throughput: $rps invocations/s, p50 $p50 ms, p99 $p99 ms (32 connections, $errors non-2xx, $cores cores)"

drain
read -r rps1k p50_1k p99_1k errors1k < <(run_wrk 1000 "$work/trivial.lua")
echo "1000 connections: $rps1k invocations/s, p50 $p50_1k ms, p99 $p99_1k ms, $errors1k non-2xx; server peak RSS $(( $(peak_rss_kib) / 1024 )) MiB"

drain
read -r _ alone_p50 alone_p99 _ < <(wrk -t1 -c1 -d"${duration}s" --latency -s "$work/trivial.lua" "$url/v1/invocations" | summarize)
# Two connections keep the noisy tenant at its ceiling of one running loop
# (and one queued): a flood of refused requests is a different test.
wrk -t1 -c2 -d"$((duration + 4))s" -s "$work/spin.lua" "$url/v1/invocations" >/dev/null 2>&1 &
noisy=$!
sleep 2
read -r _ noisy_p50 noisy_p99 _ < <(wrk -t1 -c1 -d"${duration}s" --latency -s "$work/trivial.lua" "$url/v1/invocations" | summarize)
wait "$noisy" || true
awk -v a="$alone_p50" -v b="$noisy_p50" -v a99="$alone_p99" -v b99="$noisy_p99" 'BEGIN {
  printf "noisy neighbour: quiet tenant p50 %.2f ms alone, %.2f ms beside infinite loops (%.2fx); p99 %.2f -> %.2f ms (%.2fx)\n", a, b, b / a, a99, b99, b99 / a99 }'
