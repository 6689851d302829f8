#!/usr/bin/env bash
# Compare peregrine-load with wrk on one core against the same server.
#
#   cargo build --release -p peregrine-load
#   loadtest/compare-wrk.sh                 # starts nginx itself (needs `nginx` installed)
#   SERVER_URL=http://127.0.0.1:8080/ loadtest/compare-wrk.sh   # an already running server
#
# Server on CPU 0, load generator on CPU 1 (one thread, 64 connections), ROUNDS rounds;
# each round runs wrk and peregrine-load, without and with 16-deep pipelining, interleaved.
# Prints every run (req/s, the generator's CPU seconds, load average) and the median req/s.
# Environment: ROUNDS (3), DURATION (10s), LOAD (path of peregrine-load), WRK_LUA
# (pipeline script, default bench/pipeline.lua), SERVER_URL.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
LOAD=${LOAD:-${CARGO_TARGET_DIR:-target}/release/peregrine-load}
WRK_LUA=${WRK_LUA:-bench/pipeline.lua}
URL=${SERVER_URL:-http://127.0.0.1:8099/}
LIMIT=120 # seconds, per run

[[ -x $LOAD ]] || { echo "no $LOAD: cargo build --release -p peregrine-load" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }

conf=""
if [[ -z ${SERVER_URL:-} ]]; then
    command -v nginx >/dev/null || { echo "nginx not installed (apt-get install -y nginx-light)" >&2; exit 1; }
    dir=$(mktemp -d /tmp/peregrine-load-nginx.XXXXXX)
    conf=$dir/nginx.conf
    cat >"$conf" <<EOF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:8099;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
    taskset -c 0 nginx -c "$conf"
    trap 'nginx -s stop -c "$conf" || true' EXIT
    sleep 0.5
fi
curl -fsS -o /dev/null "$URL" || { echo "server at $URL does not answer" >&2; exit 1; }

results=$(mktemp)
# run NAME DEPTH -- prints "NAME DEPTH REQ_PER_SEC CPU_SECONDS"
run() {
    local name=$1 depth=$2 out cpu rps
    local start_ticks end_ticks
    if [[ $name == wrk ]]; then
        local script=()
        ((depth > 1)) && script=(-s "$WRK_LUA" "$URL" -- "$depth")
        ((depth > 1)) || script=("$URL")
        out=$( { TIMEFORMAT='%U %S'; time taskset -c 1 timeout $LIMIT wrk -t1 -c64 -d"$DURATION" "${script[@]}" ; } 2>&1 )
        rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "wrk reported errors: $out" >&2; fi
    else
        out=$( { TIMEFORMAT='%U %S'; time taskset -c 1 timeout $LIMIT "$LOAD" -t1 -c64 -d"$DURATION" --pipeline "$depth" --json "$URL" ; } 2>&1 )
        rps=$(sed -n '/^{/,/^}/p' <<<"$out" | jq -r '.requests_per_sec | floor')
        errs=$(sed -n '/^{/,/^}/p' <<<"$out" | jq -r '.errors_total')
        [[ $errs == 0 ]] || echo "peregrine-load reported $errs errors" >&2
    fi
    cpu=$(tail -n1 <<<"$out" | awk '{printf "%.2f", $1 + $2}')
    echo "$name $depth $rps $cpu $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$results"
}

echo "# tool depth req/s cpu_s loadavg(1 min, after the run)"
for round in $(seq "$ROUNDS"); do
    for depth in 1 16; do
        run wrk "$depth"
        run peregrine-load "$depth"
    done
done

echo
echo "# medians over $ROUNDS rounds"
printf '%-16s %6s %12s %8s\n' tool depth req/s "cpu_s (of that run)"
for depth in 1 16; do
    for name in wrk peregrine-load; do
        awk -v n="$name" -v d="$depth" '$1 == n && $2 == d {print $3, $4}' "$results" |
            sort -n | awk -v n="$name" -v d="$depth" '{r[NR]=$1; c[NR]=$2} END {m=int((NR+1)/2); printf "%-16s %6s %12s %8s\n", n, d, r[m], c[m]}'
    done
done
rm -f "$results"
