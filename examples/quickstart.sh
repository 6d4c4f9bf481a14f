#!/usr/bin/env bash
# Record the bookstore example through mitmdump and the apitape addon, then replay the
# cassette against v2. docs/quickstart.md walks through this file; a test runs it.
# Usage: examples/quickstart.sh WORKDIR   (run from the repository root, venv active)
set -euo pipefail
work=${1:?usage: examples/quickstart.sh WORKDIR}
mkdir -p "$work"

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# 1. Start the service (v1) on a free port.
v1_port=$(free_port)
python examples/bookstore/server.py --version 1 --port "$v1_port" --db "$work/v1.sqlite3" >/dev/null &
pids+=($!)
wait_port "$v1_port"

# 2. Put the recording proxy in front of it. Secrets become placeholders keyed by the key
#    file (made on first use; keep it out of the repository).
proxy_port=$(free_port)
mitmdump -q -s addons/record.py --mode "reverse:http://127.0.0.1:$v1_port" \
    --listen-host 127.0.0.1 -p "$proxy_port" --set confdir="$work/mitmproxy" \
    --set apitape_cassette="$work/bookstore.yaml" \
    --set apitape_redact_key_file="$work/redaction.key" &
proxy=$!
pids+=($proxy)
wait_port "$proxy_port"

# 3. Let a real client talk to the service through the proxy.
python examples/bookstore/client.py --base-url "http://127.0.0.1:$proxy_port"

# 4. Stop the proxy: SIGTERM (or Ctrl-C) flushes and exits cleanly.
kill -TERM "$proxy" && wait "$proxy"

# 5. Start the new build (v2) and replay the cassette against it. The login's password was
#    redacted: --secret puts it back, and with the key only where that password was used.
v2_port=$(free_port)
python examples/bookstore/server.py --version 2 --port "$v2_port" --db "$work/v2.sqlite3" >/dev/null &
pids+=($!)
wait_port "$v2_port"
status=0
BOOKSTORE_PASSWORD=wonderland  # the example user's; in real use, from your secret store
apitape replay "$work/bookstore.yaml" --target "http://127.0.0.1:$v2_port" \
    --redact-key-file "$work/redaction.key" --secret "password=$BOOKSTORE_PASSWORD" \
    --report-json "$work/report.json" || status=$?
echo "apitape replay exited with status $status (0 no regression, 1 regressions, 2 errors)"
exit "$status"
