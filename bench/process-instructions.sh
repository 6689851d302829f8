#!/usr/bin/env bash
# User-space instructions per request of a whole server process (every thread, start-up
# cancelled out), counted by callgrind: the server runs under valgrind twice, once serving N1 and
# once N2 requests from bench/pipeline_client.py, and (count(N2) - count(N1)) / (N2 - N1) is its
# cost per request. Unlike bench/instructions.sh (peregrine's shared layers through serve_bytes),
# this includes the server's own I/O loop and syscall wrappers (not the kernel), so it compares
# peregrine's portable engine with peer servers. valgrind does not model io_uring: io_uring
# servers (peregrine's default engine, monoio, the ceiling) cannot be measured this way.
#
# usage: bench/process-instructions.sh [--depth D] [--conns C] [--n1 N1] [--n2 N2] PORT -- SERVER CMD...
#   e.g. bench/process-instructions.sh 8090 -- target/release/peregrine --engine portable \
#            --workers 1 --urls http://127.0.0.1:8090
#        bench/process-instructions.sh --depth 1 8091 -- \
#            bench/peers/may-minihttp/target/release/may-minihttp-peer --addr 127.0.0.1:8091
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
depth=16 conns=64 n1=6400 n2=38400
while [[ $# -gt 0 ]]; do
    case $1 in
    --depth) depth=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --n1) n1=$2; shift 2 ;;
    --n2) n2=$2; shift 2 ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) break ;;
    esac
done
[[ $# -ge 3 && $2 == -- ]] || { echo "usage: $0 [options] PORT -- SERVER CMD... (try --help)" >&2; exit 2; }
port=$1; shift 2
command -v valgrind >/dev/null || { echo "process-instructions.sh: valgrind is not installed" >&2; exit 1; }

# Instructions of one run of the server serving `total` requests.
run() {
    local total=$1 log out
    shift
    log=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >"$log" 2>&1 &
    local vg=$!
    for _ in $(seq 300); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
        sleep 0.2
    done
    out=$(python3 "$BENCH_DIR/pipeline_client.py" 127.0.0.1 "$port" "$total" "$depth" "$conns") || {
        kill -TERM $vg; wait $vg || true; echo "the load failed; server log: $log" >&2; exit 1; }
    [[ $out == "$total" ]] || { kill -TERM $vg; echo "expected $total responses, got $out" >&2; exit 1; }
    kill -TERM $vg; wait $vg || true
    # Every thread's total (callgrind prints one "Collected" line per process).
    awk '/Collected :/ { n = $4 } END { if (!n) exit 1; print n }' "$log"
    rm -f "$log"
}

SERVER=("$@")
a=$(run "$n1" "${SERVER[@]}")
b=$(run "$n2" "${SERVER[@]}")
echo "$(( (b - a) / (n2 - n1) )) instructions per request (depth $depth, $conns connections; $n1 and $n2 requests: $a and $b)"
