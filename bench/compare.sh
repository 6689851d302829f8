#!/usr/bin/env bash
# Compare HTTP servers on this machine: each server pinned to CPU 0, wrk pinned to CPU 1.
#
# usage: bench/compare.sh [--quick] [--rounds N] [--duration S] [--scenarios LIST]
#                         NAME=COMMAND [NAME=COMMAND ...]
#
#   NAME=COMMAND  a server to start; COMMAND is run by bash. Give it its address with
#                 the {port} placeholder (or $PORT): server number i (from 0) gets
#                 port BASE_PORT+i (BASE_PORT defaults to 18080), e.g.
#                   hyper="bench/peers/hyper/target/release/hyper-peer --addr 127.0.0.1:{port}"
#                 A command with no placeholder must name 127.0.0.1:PORT (or
#                 localhost:PORT) itself; that port is then used.
#   --quick       3-second runs, one round (a smoke run; numbers are rough)
#   --rounds N    rounds (default 3); servers are interleaved round by round, and the
#                 median over rounds is reported
#   --duration S  seconds per wrk run (default 10; 3 with --quick)
#   --scenarios   comma-separated subset of: plaintext,pipelined,json,c1000
#
# Per server and scenario it reports req/s, p50/p99 latency, non-2xx/3xx responses,
# socket errors, and the server's CPU time per request (utime+stime of the whole
# process from /proc/PID/stat, before vs after the run, divided by wrk's request
# count). A markdown table goes to stdout, every run and the medians to a CSV under
# bench/results/.
#
# Traffic goes to 127.0.0.1 only, and every step is bounded in time.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS_DIR="$BENCH_DIR/results"
PIPELINE_LUA="$BENCH_DIR/pipeline.lua"
BASE_PORT=${BASE_PORT:-18080}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

ALL_SCENARIOS="plaintext,pipelined,json,c1000"
rounds=3
duration=10
quick=0
scenarios=$ALL_SCENARIOS
names=()
commands=()

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

duration_set=0
rounds_set=0
while (($#)); do
    case $1 in
    --quick) quick=1 ;;
    --rounds)
        rounds=${2:?--rounds needs a value}
        rounds_set=1
        shift
        ;;
    --duration)
        duration=${2:?--duration needs a value}
        duration_set=1
        shift
        ;;
    --scenarios)
        scenarios=${2:?--scenarios needs a value}
        shift
        ;;
    -h | --help) usage 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *=*)
        names+=("${1%%=*}")
        commands+=("${1#*=}")
        ;;
    *) die "expected NAME=COMMAND, got: $1" ;;
    esac
    shift
done
if ((quick)); then
    ((duration_set)) || duration=3
    ((rounds_set)) || rounds=1
fi
((${#names[@]})) || usage 1
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $duration =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive integer"
IFS=, read -r -a scenario_list <<<"$scenarios"
for s in "${scenario_list[@]}"; do
    [[ ,$ALL_SCENARIOS, == *",$s,"* ]] || die "unknown scenario $s (known: $ALL_SCENARIOS)"
done

for tool in wrk taskset curl awk; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk util-linux curl gawk)"
done
((${#names[@]} == $(printf '%s\n' "${names[@]}" | sort -u | wc -l))) || die "server names must be unique"

# c1000 needs 1000+ descriptors in wrk and in the server (which inherits this limit).
hard_nofile=$(ulimit -Hn)
if [[ $hard_nofile == unlimited ]] || ((hard_nofile > 65536)); then
    hard_nofile=65536
fi
ulimit -n "$hard_nofile" || echo "warning: could not raise ulimit -n; c1000 may fail" >&2

CLK_TCK=$(getconf CLK_TCK)

# Every server gets its own port (unless its command names one), so a port still
# held by the previous server's teardown (io_uring releases files asynchronously)
# never collides with the next one.
ports=()
for i in "${!commands[@]}"; do
    cmd=${commands[$i]}
    # shellcheck disable=SC2016 # a literal $PORT in the command, expanded by its bash
    if [[ $cmd == *"{port}"* || $cmd == *'$PORT'* || $cmd == *'${PORT}'* ]]; then
        ports+=($((BASE_PORT + i)))
    elif [[ $cmd =~ (127\.0\.0\.1|localhost):([0-9]+) ]]; then
        ports+=("${BASH_REMATCH[2]}")
    else
        die "command for ${names[$i]} has no {port} placeholder and no 127.0.0.1:PORT"
    fi
done

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS_DIR/logs"
csv="$RESULTS_DIR/compare-$stamp.csv"
echo "round,server,scenario,connections,duration_s,requests,req_per_s,p50_us,p99_us,non_2xx_3xx,err_connect,err_read,err_write,err_timeout,server_cpu_s,server_cpu_pct,cpu_us_per_req,cpu0_us_per_req,cpu1_busy_pct" >"$csv"

server_pid=""

# utime + stime of the whole process (all threads), in clock ticks.
cpu_ticks() {
    # Fields after the ")" that ends the command name: state is field 3, so utime
    # (field 14) and stime (field 15) are the 12th and 13th after it.
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# "BUSY TOTAL" ticks of one CPU from /proc/stat: busy is everything but idle and
# iowait (so it includes softirq work, ksoftirqd and anything else on that CPU).
cpu_busy_total() {
    awk -v cpu="cpu$1" '$1 == cpu {
        busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6
    }' /proc/stat
}

port_listening() {
    # Any answer at all (even 404) means the server accepts connections.
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/plaintext"
}

start_server() { # name command port log
    local cmd=${2//\{port\}/$3}
    if port_listening "$3"; then
        echo "port $3 is already in use; not starting $1 (set BASE_PORT?)" >&2
        return 1
    fi
    # taskset and bash both exec, so $! ends up being the server process itself.
    PORT=$3 taskset -c "$SERVER_CPU" bash -c "exec $cmd" >"$4" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 10))
    until port_listening "$3"; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            server_pid=""
            echo "server $1 exited during startup; its output ($4):" >&2
            tail -n 20 "$4" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "server $1 did not accept connections on port $3 within 10 s" >&2
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

wait_port_free() {
    local i
    for ((i = 0; i < 100; i++)); do
        port_listening "$1" || return 0
        sleep 0.1
    done
    echo "warning: port $1 still accepting connections 10 s after its server stopped" >&2
}

# Converts a wrk duration (e.g. 812.00us, 1.20ms, 2.01s) to microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) f = 1; else if (v ~ /ms$/) f = 1000; else if (v ~ /m$/) f = 60e6; else if (v ~ /s$/) f = 1e6; else f = 1
        printf "%.0f", n * f
    }'
}

# run_wrk ROUND NAME SCENARIO PORT: one load run, appended to the CSV.
run_wrk() {
    local round=$1 name=$2 scenario=$3 port=$4
    local conns=64 path=/plaintext extra=()
    case $scenario in
    plaintext) ;;
    pipelined)
        conns=256
        extra=(-s "$PIPELINE_LUA" --)
        ;;
    json) path=/json ;;
    c1000) conns=1000 ;;
    esac
    local url="http://127.0.0.1:$port$path"
    local before after out
    # (set -e is off inside a function called with ||, so failures are checked here.)
    local s0 w0 s1 w1
    s0=$(cpu_busy_total "$SERVER_CPU")
    w0=$(cpu_busy_total "$WRK_CPU")
    before=$(cpu_ticks "$server_pid") || return 1
    # -t1: wrk has one core (CPU 1). timeout: a hung wrk can't stall the script.
    out=$(timeout $((duration + 30)) taskset -c "$WRK_CPU" \
        wrk -t1 -c"$conns" -d"${duration}s" --timeout 5s --latency "$url" "${extra[@]}" 2>&1) || {
        echo "wrk failed for $name/$scenario:" >&2
        echo "$out" >&2
        return 1
    }
    after=$(cpu_ticks "$server_pid") || {
        echo "server $name exited during $scenario" >&2
        return 1
    }
    s1=$(cpu_busy_total "$SERVER_CPU")
    w1=$(cpu_busy_total "$WRK_CPU")

    local requests rps p50 p99 non2xx errs
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" (only printed if any)
    errs=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 "," $6 "," $8 "," $10 }' <<<"$out")
    # wrk's latency histogram is broken with pipelining (percentiles of 0, and a
    # p50 above the max), so those latencies are left out rather than reported wrong.
    if [[ $scenario == pipelined ]]; then
        p50="" p99=""
    fi
    [[ -n $requests && -n $rps ]] || {
        echo "could not parse wrk output for $name/$scenario:" >&2
        echo "$out" >&2
        return 1
    }
    local ticks=$((after - before))
    awk -v r="$round" -v n="$name" -v s="$scenario" -v c="$conns" -v d="$duration" \
        -v req="$requests" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v nx="${non2xx:-0}" \
        -v e="${errs:-0,0,0,0}" -v t="$ticks" -v hz="$CLK_TCK" \
        -v s0="$s0" -v s1="$s1" -v w0="$w0" -v w1="$w1" 'BEGIN {
        cpu = t / hz
        split(s0, a, " "); split(s1, b, " "); cpu0 = (b[1] - a[1]) / hz
        split(w0, a, " "); split(w1, b, " "); wrk_busy = b[2] > a[2] ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
        printf "%s,%s,%s,%d,%d,%d,%.0f,%s,%s,%d,%s,%.2f,%.1f,%.3f,%.3f,%.1f\n",
            r, n, s, c, d, req, rps, p50, p99, nx, e, cpu, 100 * cpu / d,
            (req > 0 ? cpu * 1e6 / req : 0), (req > 0 ? cpu0 * 1e6 / req : 0), wrk_busy
    }' >>"$csv"
    printf '  %-12s %-10s %10.0f req/s  p50 %6s us  p99 %7s us  cpu %s ticks\n' \
        "$name" "$scenario" "$rps" "${p50:-n/a}" "${p99:-n/a}" "$ticks" >&2
}

echo "# peregrine peer comparison, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- kernel: $(uname -r); $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "- load generator: $(wrk --version 2>&1 | head -n 1 || true)"
echo "- server on CPU $SERVER_CPU, wrk on CPU $WRK_CPU (wrk -t1); ${duration}s per run, $rounds round(s), median shown"
echo "- CSV: ${csv#"$BENCH_DIR/../"}"
echo

for ((round = 1; round <= rounds; round++)); do
    for i in "${!names[@]}"; do
        name=${names[$i]} port=${ports[$i]}
        echo "round $round/$rounds: $name on port $port" >&2
        log="$RESULTS_DIR/logs/$stamp-$name-round$round.log"
        if ! start_server "$name" "${commands[$i]}" "$port" "$log"; then
            echo "skipping $name in round $round" >&2
            continue
        fi
        # Warm up (page faults, allocator, caches) before the measured runs.
        timeout 10 taskset -c "$WRK_CPU" wrk -t1 -c64 -d1s "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1 || true
        for scenario in "${scenario_list[@]}"; do
            if ! kill -0 "$server_pid" 2>/dev/null; then
                echo "server $name died; see $log" >&2
                break
            fi
            run_wrk "$round" "$name" "$scenario" "$port" || true
        done
        stop_server
        wait_port_free "$port"
    done
done

# Medians over rounds (numeric columns), errors summed; appended to the CSV as
# round=median and printed as the markdown table.
medians=$(awk -F, -v names="${names[*]}" -v scen="${scenario_list[*]}" '
    # median of the space-separated numbers in list; "" if there are none
    function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return ""
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    NR > 1 {
        k = $2 SUBSEP $3
        cnt[k]++; conns[k] = $4; dur[k] = $5
        for (c = 6; c <= 9; c++) if ($c != "") col[k, c] = col[k, c] " " $c
        for (c = 10; c <= 14; c++) sum[k, c] += $c
        for (c = 15; c <= 19; c++) col[k, c] = col[k, c] " " $c
    }
    END {
        ns = split(names, N, " "); nc = split(scen, S, " ")
        for (i = 1; i <= ns; i++) for (j = 1; j <= nc; j++) {
            k = N[i] SUBSEP S[j]
            if (!(k in cnt)) continue
            printf "median,%s,%s,%d,%d", N[i], S[j], conns[k], dur[k]
            for (c = 6; c <= 9; c++) { m = median(col[k, c]); printf (m == "" ? ",%s" : ",%.0f"), m }
            for (c = 10; c <= 14; c++) printf ",%d", sum[k, c]
            printf ",%.2f,%.1f,%.3f,%.3f,%.1f,%d\n", median(col[k, 15]), median(col[k, 16]),
                median(col[k, 17]), median(col[k, 18]), median(col[k, 19]), cnt[k]
        }
    }' "$csv")
if [[ -n $medians ]]; then
    # The last field (rounds counted) is for the table only.
    awk '{ sub(/,[0-9]+$/, ""); print }' <<<"$medians" >>"$csv"
fi

echo "| server | scenario | conns | req/s | p50 (us) | p99 (us) | non-2xx/3xx | socket errors (c/r/w/t) | server CPU % | CPU us/req | CPU0 us/req | wrk CPU1 % | rounds |"
echo "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
if [[ -n $medians ]]; then
    awk -F, '{
        p50 = $8 == "" ? "n/a" : $8; p99 = $9 == "" ? "n/a" : $9
        printf "| %s | %s | %d | %d | %s | %s | %d | %d/%d/%d/%d | %.0f | %.2f | %.2f | %.0f | %d |\n",
            $2, $3, $4, $7, p50, p99, $10, $11, $12, $13, $14, $16, $17, $18, $19, $20
    }' <<<"$medians"
fi
echo
echo "CPU us/req: server utime+stime (all threads) over the run / requests; tick = $((1000 / CLK_TCK)) ms."
echo "CPU0 us/req: all busy time of CPU $SERVER_CPU (softirq included) / requests. wrk CPU1 %: busy share of CPU $WRK_CPU (near 100: wrk was the limit)."
echo "pipelined: 16 requests per write; wrk's latency figures are unreliable with pipelining, so n/a."
