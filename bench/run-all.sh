#!/usr/bin/env bash
# The whole peer benchmark in one command (issue #5): builds peregrine and every peer,
# runs compare.sh (closed loop, wrk) over all of them, a fixed-rate open-loop latency
# run (peregrine-load) and the idle-memory test (idle_mem.py), and generates
# docs/performance.md (and its plot) from the results with report.py.
#
# usage: bench/run-all.sh [--quick] [--rounds N] [--duration S] [--rate R]
#                         [--servers LIST] [--no-build]
#
#   --quick       3 s runs, one round, scenarios plaintext,pipelined, 2,000 idle
#                 connections; the report goes to bench/results/run-*/performance.md
#                 only (docs/performance.md is left alone: quick numbers are rough)
#   --rounds N    compare.sh rounds (default 3; medians reported)
#   --duration S  seconds per load run (default 10)
#   --rate R      open-loop rate for the fixed-rate latency run (default 50000 req/s)
#   --servers L   comma-separated subset of: peregrine,peregrine-logged (the access log on),
#                 peregrine-portable,hyper,actix,may_minihttp,monoio,tokio-uring,ceiling,nginx
#                 (default: all)
#   --no-build    use the binaries already built
#
# Every server runs pinned to CPU 0 and every load generator to CPU 1 (see compare.sh);
# traffic goes to 127.0.0.1 only and every step is bounded in time. Don't run it while
# anything else (a build, a fuzzer) is busy: the numbers would be meaningless.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"

ALL_SERVERS="peregrine,peregrine-logged,peregrine-portable,hyper,actix,may_minihttp,monoio,tokio-uring,ceiling,nginx"
quick=0 rounds=3 duration=10 rate=50000 servers=$ALL_SERVERS build=1
rounds_set=0 duration_set=0
while (($#)); do
    case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=${2:?--rounds needs a value} rounds_set=1 && shift ;;
    --duration) duration=${2:?--duration needs a value} duration_set=1 && shift ;;
    --rate) rate=${2:?--rate needs a value} && shift ;;
    --servers) servers=${2:?--servers needs a value} && shift ;;
    --no-build) build=0 ;;
    -h | --help)
        sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "run-all.sh: unknown argument $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
scenarios=plaintext,pipelined,json,c1000
idle_conns=10000
if ((quick)); then
    ((rounds_set)) || rounds=1
    ((duration_set)) || duration=3
    scenarios=plaintext,pipelined
    idle_conns=2000
fi
[[ $rate =~ ^[1-9][0-9]*$ ]] || { echo "run-all.sh: --rate must be a positive integer" >&2; exit 2; }

# name|crate directory (under bench/peers, or "" for the root)|command ({port} filled in)
declare -A CMD=(
    [peregrine]="target/release/peregrine --engine uring --urls http://127.0.0.1:{port} --workers 1"
    [peregrine-logged]="target/release/peregrine --engine uring --urls http://127.0.0.1:{port} --workers 1 --access-log"
    [peregrine-portable]="target/release/peregrine --engine portable --urls http://127.0.0.1:{port} --workers 1"
    [hyper]="bench/peers/hyper/target/release/hyper-peer --addr 127.0.0.1:{port}"
    [actix]="bench/peers/actix/target/release/actix-peer --addr 127.0.0.1:{port}"
    [may_minihttp]="bench/peers/may-minihttp/target/release/may-minihttp-peer --addr 127.0.0.1:{port}"
    [monoio]="bench/peers/monoio/target/release/monoio-peer --addr 127.0.0.1:{port}"
    [tokio-uring]="bench/peers/tokio-uring/target/release/tokio-uring-peer --addr 127.0.0.1:{port}"
    [ceiling]="bench/peers/ceiling/target/release/ceiling-peer --addr 127.0.0.1:{port}"
    [nginx]="bench/nginx/run.sh {port}"
)
declare -A DIR=(
    [hyper]=hyper [actix]=actix [may_minihttp]=may-minihttp [monoio]=monoio
    [tokio-uring]=tokio-uring [ceiling]=ceiling
)
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    [[ -n ${CMD[$s]+x} ]] || { echo "run-all.sh: unknown server $s (known: $ALL_SERVERS)" >&2; exit 2; }
done
command -v nginx >/dev/null || [[ ,$servers, != *,nginx,* ]] ||
    { echo "run-all.sh: nginx not found (apt-get install -y nginx-light)" >&2; exit 1; }

# compare.sh's servers get BASE_PORT, BASE_PORT+1, ...; the fixed-rate and idle-memory
# runs use BASE_PORT+100 and up. Away from 18080 (compare.sh's own default), which
# other tools on a shared machine tend to use too.
export BASE_PORT=${BASE_PORT:-18400}
stamp=$(date +%Y%m%d-%H%M%S)
out="$BENCH_DIR/results/run-$stamp"
mkdir -p "$out/logs"
echo "run-all.sh: results in ${out#"$ROOT/"}" >&2

# ---- build -------------------------------------------------------------------------
if ((build)); then
    echo "building peregrine and the peers (release)" >&2
    cargo build --release -p peregrine
    # The open-loop load generator is a workspace crate; if it does not build (or is
    # not there yet) the fixed-rate run is skipped and the report says so.
    cargo build --release -p peregrine-load 2>"$out/logs/peregrine-load-build.log" ||
        echo "warning: peregrine-load did not build; no fixed-rate latency run" >&2
    for s in "${server_list[@]}"; do
        [[ -n ${DIR[$s]+x} ]] || continue
        (cd "bench/peers/${DIR[$s]}" && cargo build --release)
    done
fi

# ---- versions and machine, for the report ------------------------------------------
load_bin=""
for candidate in target/release/peregrine-load loadtest/target/release/peregrine-load; do
    if [[ -x $candidate ]]; then
        load_bin=$candidate
        break
    fi
done
lock_version() { # Cargo.lock crate -> version
    awk -v c="$2" '$1 == "name" && $3 == "\"" c "\"" { getline; gsub(/"/, "", $3); print $3; exit }' "$1"
}
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "kernel=$(uname -r)"
    echo "cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "cpus=$(nproc)"
    echo "mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "rustc=$(rustc --version)"
    echo "wrk=$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2 || true)"
    echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)"
    echo "peregrine=$(lock_version Cargo.lock peregrine) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes'))"
    echo "peregrine_load=${load_bin:+$("$load_bin" --version 2>/dev/null || echo "$load_bin")}"
    echo "hyper=hyper $(lock_version bench/peers/hyper/Cargo.lock hyper), tokio $(lock_version bench/peers/hyper/Cargo.lock tokio)"
    echo "actix=actix-web $(lock_version bench/peers/actix/Cargo.lock actix-web), actix-rt $(lock_version bench/peers/actix/Cargo.lock actix-rt)"
    echo "may_minihttp=may_minihttp $(lock_version bench/peers/may-minihttp/Cargo.lock may_minihttp), may $(lock_version bench/peers/may-minihttp/Cargo.lock may)"
    echo "monoio=monoio $(lock_version bench/peers/monoio/Cargo.lock monoio) (io_uring driver)"
    echo "tokio-uring=tokio-uring $(lock_version bench/peers/tokio-uring/Cargo.lock tokio-uring)"
    echo "ceiling=io-uring $(lock_version bench/peers/ceiling/Cargo.lock io-uring)"
    echo "rounds=$rounds"
    echo "duration=$duration"
    echo "rate=$rate"
    echo "quick=$quick"
    echo "idle_conns=$idle_conns"
    echo "scenarios=$scenarios"
    echo "servers=$servers"
    echo "invocation=bench/run-all.sh $*"
} >"$out/meta.txt"
for s in "${server_list[@]}"; do
    echo "cmd.$s=${CMD[$s]}" >>"$out/meta.txt"
done

# ---- closed loop: compare.sh (wrk) --------------------------------------------------
compare_args=(--rounds "$rounds" --duration "$duration" --scenarios "$scenarios")
for s in "${server_list[@]}"; do
    compare_args+=("$s=${CMD[$s]}")
done
echo "compare_cmd=bench/compare.sh --rounds $rounds --duration $duration --scenarios $scenarios NAME=COMMAND ..." >>"$out/meta.txt"
bench/compare.sh "${compare_args[@]}" | tee "$out/compare.md"
csv=$(awk '/^- CSV: / { print $3 }' "$out/compare.md")
cp "$ROOT/$csv" "$out/compare.csv" 2>/dev/null || cp "$csv" "$out/compare.csv"

# ---- helpers for the fixed-rate run --------------------------------------------------
hard_nofile=$(ulimit -Hn)
[[ $hard_nofile == unlimited ]] && hard_nofile=65536
ulimit -n "$hard_nofile"
CLK_TCK=$(getconf CLK_TCK)
server_pid=""
answers() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/plaintext"; }
start_server() { # name port
    local cmd=${CMD[$1]//\{port\}/$2}
    if answers "$2"; then
        echo "port $2 busy; skipping $1" >&2
        return 1
    fi
    taskset -c 0 bash -c "exec $cmd" >"$out/logs/$1-$2.log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 10))
    until answers "$2"; do
        if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS >= deadline)); then
            echo "$1 did not start; see $out/logs/$1-$2.log" >&2
            stop_server
            return 1
        fi
        sleep 0.1
    done
}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap stop_server EXIT
trap 'exit 130' INT TERM
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
# Ports away from compare.sh's, so a port still in io_uring's asynchronous teardown
# from the closed-loop runs never collides.
port_base=$((BASE_PORT + 100))

# ---- open loop: fixed-rate latency (peregrine-load) ---------------------------------
echo "server,rate,connections,duration_s,requests,req_per_s,errors,p50_us,p90_us,p99_us,p999_us,max_us,server_cpu_pct,cpu_us_per_req" >"$out/fixed_rate.csv"
if [[ -n $load_bin ]]; then
    echo "fixed_rate_cmd=taskset -c 1 $load_bin --rate $rate -c 64 -d ${duration}s --warmup 1s --cpus 1 --json --allow-errors http://127.0.0.1:PORT/plaintext" >>"$out/meta.txt"
    i=0
    for s in "${server_list[@]}"; do
        port=$((port_base + i))
        i=$((i + 1))
        echo "fixed rate $rate req/s: $s on port $port" >&2
        start_server "$s" "$port" || continue
        timeout 10 taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1 || true
        before=$(cpu_ticks "$server_pid")
        t0=$(date +%s.%N)
        if json=$(timeout $((duration + 30)) taskset -c 1 "$load_bin" --rate "$rate" -c 64 -d "${duration}s" \
            --warmup 1s --cpus 1 --json --allow-errors "http://127.0.0.1:$port/plaintext" 2>"$out/logs/load-$s.err"); then
            after=$(cpu_ticks "$server_pid")
            t1=$(date +%s.%N)
            printf '%s\n' "$json" >"$out/fixed-rate-$s.json"
            python3 - "$out/fixed-rate-$s.json" "$s" "$rate" "$((after - before))" "$CLK_TCK" "$t0" "$t1" <<'PY' >>"$out/fixed_rate.csv"
import json, sys
path, name, rate, ticks, hz, t0, t1 = sys.argv[1:]
with open(path) as f:
    j = json.load(f)
lat = j["latency_us"]
cpu = int(ticks) / int(hz)
# The CPU window includes the 1 s warmup; requests in it are at the same rate.
wall = float(t1) - float(t0)
reqs_in_window = j["requests_per_sec"] * wall
print(f'{name},{rate},{j["connections"]},{j["duration_secs"]:.0f},{j["requests"]},{j["requests_per_sec"]:.0f},'
      f'{j["errors_total"]},{lat["p50"]},{lat["p90"]},{lat["p99"]},{lat["p99_9"]},{lat["max"]},'
      f'{100 * cpu / wall:.1f},{(cpu * 1e6 / reqs_in_window) if reqs_in_window else 0:.2f}')
PY
        else
            echo "peregrine-load failed for $s (see $out/logs/load-$s.err)" >&2
        fi
        stop_server
    done
else
    echo "fixed_rate_cmd=" >>"$out/meta.txt"
    echo "no peregrine-load binary: skipping the fixed-rate latency run" >&2
fi

# ---- memory per idle connection -----------------------------------------------------
echo "server,port,conns,alive,rss_before_kib,rss_after_kib,bytes_per_conn" >"$out/idle_mem.csv"
echo "idle_mem_cmd=bench/idle_mem.py --conns $idle_conns PORT -- COMMAND" >>"$out/meta.txt"
i=0
for s in "${server_list[@]}"; do
    port=$((port_base + 20 + i))
    i=$((i + 1))
    echo "idle memory ($idle_conns connections): $s on port $port" >&2
    read -r -a argv <<<"${CMD[$s]}"
    if line=$(timeout 180 python3 bench/idle_mem.py --conns "$idle_conns" "$port" -- "${argv[@]}"); then
        echo "$s,$line" >>"$out/idle_mem.csv"
    else
        echo "idle-memory test failed for $s" >&2
    fi
done

# ---- system calls per request (perf's syscall tracepoints) -------------------------------------
if command -v perf >/dev/null; then
    echo "system calls per request (bench/syscalls.py)" >&2
    sys_servers=$(printf '%s\n' "${server_list[@]}" |
        grep -xE 'peregrine|peregrine-portable|ceiling|monoio|may_minihttp|hyper' | paste -sd, -)
    if [[ -n $sys_servers ]]; then
        python3 bench/syscalls.py --duration "$((duration < 5 ? duration : 5))" --servers "$sys_servers" \
            --scenarios "one,${scenarios/json,/}" >"$out/syscalls.md" || echo "syscall count failed" >&2
    fi
fi

# ---- instructions per request (callgrind; deterministic) ----------------------------------
if command -v valgrind >/dev/null; then
    echo "instructions per request (bench/instructions.sh --breakdown)" >&2
    bench/instructions.sh --breakdown >"$out/instructions.txt" || echo "instruction count failed" >&2
fi

# ---- report ----------------------------------------------------------------------------
if ((quick)); then
    python3 bench/report.py "$out" --out "$out/performance.md"
else
    python3 bench/report.py "$out" --out docs/performance.md
fi
