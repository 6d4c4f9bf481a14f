#!/usr/bin/env bash
# Record the bookstore client's session against v1 through `apitape record`: how the
# committed cassettes/bookstore.yaml is made. Secrets are redacted with a random key that
# lives only as long as the recording, so nobody holds it and no placeholder can be checked
# against a guess; a replay names the placeholder the right password became (printed last).
# tests/integration/test_demo.py runs this file.
# Usage: examples/bookstore/record_cassette.sh CASSETTE   (from the repository root, venv active)
set -euo pipefail
cassette=${1:?usage: examples/bookstore/record_cassette.sh CASSETTE}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

v1_port=$(free_port)
python examples/bookstore/server.py --version 1 --port "$v1_port" --db "$work/v1.sqlite3" >/dev/null &
pids+=($!)
wait_port "$v1_port"

rm -f "$cassette"  # a new recording, not one continued
proxy_port=$(free_port)
env -u APITAPE_REDACT_KEY apitape record --upstream "http://127.0.0.1:$v1_port" \
    --port "$proxy_port" --confdir "$work/mitmproxy" --quiet --cassette "$cassette" &
proxy=$!
pids+=($proxy)
wait_port "$proxy_port"
python examples/bookstore/client.py --base-url "http://127.0.0.1:$proxy_port"
kill -TERM "$proxy" && wait "$proxy"

python - "$cassette" <<'EOF'
import re, sys
from apitape.cassette import load_cassette
login = next(e for e in load_cassette(sys.argv[1]).exchanges
             if e.request.url.endswith("/login") and e.response.status == 200)
placeholder = re.search(r"redacted-password-[0-9a-f]+", login.request.body.decode()).group(0)
print(f"replay with: --secret '{placeholder}=$BOOKSTORE_PASSWORD'")
EOF
