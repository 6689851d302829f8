# Shell helpers shared by bench/compare.sh and bench/run-all.sh (sourced, not run).
# shellcheck shell=bash

# Stops the server started in $server_pid: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_server() {
    [[ -n ${server_pid:-} ]] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
