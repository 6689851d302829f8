#!/usr/bin/env bash
# Instructions (callgrind, deterministic) the server spends per keep-alive request over http and
# https, and per TLS handshake: docs/https.md, "Measurements". Needs valgrind, openssl, python3
# and `cargo build --release`. The portable engine runs (valgrind does not model io_uring).
#   bench/tls-callgrind.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$dir/k.pem" -out "$dir/c.pem" 2>/dev/null
cat >"$dir/client.py" <<'PY'
import socket, ssl, sys
scheme, port, cafile, conns, reqs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=cafile)
REQ = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
import time
for i in range(100):  # "listening on" can come a moment before every worker listens
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        break
    except OSError:
        time.sleep(0.1)
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    if scheme == "https":
        s = ctx.wrap_socket(s, server_hostname="localhost")
    for _ in range(reqs):
        s.sendall(REQ)
        buf = b""
        while not buf.endswith(b"Hello, World!"):
            buf += s.recv(65536)
    s.close()
PY
# instructions SCHEME CONNECTIONS REQUESTS_EACH
instructions() {
    local port=$((20000 + RANDOM % 20000))
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        target/release/peregrine --engine portable --workers 1 --access-log=0 \
        --urls "$1://127.0.0.1:$port" --cert "$dir/c.pem" --key "$dir/k.pem" >"$dir/srv.log" 2>&1 &
    local pid=$!
    until grep -q "listening on" "$dir/srv.log"; do sleep 0.2; done
    python3 "$dir/client.py" "$1" "$port" "$dir/c.pem" "$2" "$3"
    kill -TERM "$pid"
    wait "$pid" || true
    grep -E "^summary:|^totals:" "$dir/cg.out" | head -1 | awk '{print $2}'
}
for scheme in http https; do
    base=$(instructions "$scheme" 1 1)
    many=$(instructions "$scheme" 1 $((N + 1)))
    conns=$(instructions "$scheme" 201 1)
    echo "$scheme: $(( (many - base) / N )) instructions per keep-alive request," \
        "$(( (conns - base) / 200 )) per connection (accept, handshake, one request, close)"
done
