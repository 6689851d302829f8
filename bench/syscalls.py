#!/usr/bin/env python3
"""System calls per request, by name, for each server and load shape (issue 13).

    cargo build --release -p peregrine
    python3 bench/syscalls.py [--duration S] [--servers a,b] [--scenarios x,y]

Each server runs alone with one worker pinned to CPU 0 and wrk (one thread) on CPU 1. While
wrk runs, `perf stat` counts the server's system calls from the kernel's syscall-entry
tracepoints (every thread of the process; no ptrace, so the server runs at full speed and
batches as it would unobserved). The counts are divided by wrk's request count.

Scenarios: `one` (a single keep-alive connection, one request at a time), `plaintext`
(64 keep-alive connections), `pipelined` (256 connections, 16 requests per write) and `c1000`
(1,000 keep-alive connections). Peers are included when their binaries are built (see
bench/run-all.sh). Prints a markdown table; traffic stays on 127.0.0.1 and every run is
bounded in time.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DURATION = 3
SERVERS = {
    "peregrine": "target/release/peregrine --engine uring --workers 1 --urls http://127.0.0.1:{port}",
    "peregrine-portable": "target/release/peregrine --engine portable --workers 1 --urls http://127.0.0.1:{port}",
    "ceiling": "bench/peers/ceiling/target/release/ceiling-peer --addr 127.0.0.1:{port}",
    "monoio": "bench/peers/monoio/target/release/monoio-peer --addr 127.0.0.1:{port}",
    "may_minihttp": "bench/peers/may-minihttp/target/release/may-minihttp-peer --addr 127.0.0.1:{port}",
    "hyper": "bench/peers/hyper/target/release/hyper-peer --addr 127.0.0.1:{port}",
}
SCENARIOS = {
    "one": ["-c1"],
    "plaintext": ["-c64"],
    "pipelined": ["-c256", "-s", os.path.join(HERE, "pipeline.lua")],
    "c1000": ["-c1000"],
}
# The calls a server makes per request on one engine or the other; the total counts every call.
NAMES = ["io_uring_enter", "epoll_wait", "epoll_pwait", "read", "write", "recvfrom", "sendto",
         "writev", "sendmsg", "recvmsg", "futex", "sched_yield"]


def usage(msg):
    sys.exit(f"syscalls.py: {msg} (see the docstring: python3 bench/syscalls.py --help)")


def parse_args(argv):
    global DURATION
    servers, scenarios = list(SERVERS), list(SCENARIOS)
    while argv:
        a = argv.pop(0)
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if not argv:
            usage(f"{a} needs a value")
        v = argv.pop(0)
        if a == "--duration":
            if not v.isdigit() or int(v) < 1:
                usage("--duration must be a positive whole number of seconds")
            DURATION = int(v)
        elif a == "--servers":
            servers = v.split(",")
            for s in servers:
                if s not in SERVERS:
                    usage(f"unknown server {s} (known: {', '.join(SERVERS)})")
        elif a == "--scenarios":
            scenarios = v.split(",")
            for s in scenarios:
                if s not in SCENARIOS:
                    usage(f"unknown scenario {s} (known: {', '.join(SCENARIOS)})")
        else:
            usage(f"unknown option {a}")
    return servers, scenarios


def wait_listening(port, proc, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wrk(port, args, seconds):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-d{seconds}s", *args,
           f"http://127.0.0.1:{port}/plaintext"]
    if "-s" in args:
        cmd += ["--", "16"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"(\d+) requests in", out)
    return int(m.group(1)) if m else 0


def measure(server, scenario, port):
    cmd = SERVERS[server].format(port=port).split()
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_listening(port, proc):
            return None
        wrk(port, SCENARIOS[scenario], 1)  # warm-up: connections, buffers, caches
        events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in NAMES]
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(events), "-p",
                                 str(proc.pid)], stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)
        requests = wrk(port, SCENARIOS[scenario], DURATION)
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=10)
        counts = {}
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].isdigit():
                event = f[2]
                name = "total" if event.startswith("raw_") else event.split("sys_enter_")[-1]
                counts[name] = int(f[0])
        return requests, counts
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    servers, scenarios = parse_args(sys.argv[1:])
    for tool in ("wrk", "perf", "taskset"):
        if not shutil.which(tool):
            usage(f"{tool} not found (apt-get install -y wrk linux-perf util-linux)")
    servers = [s for s in servers if os.path.exists(os.path.join(ROOT, SERVERS[s].split()[0]))]
    print(f"| server | scenario | requests | syscalls/req | per request, by call |")
    print("|---|---|---:|---:|---|")
    port = 18300
    for scenario in scenarios:
        for server in servers:
            port += 1
            result = measure(server, scenario, port)
            if result is None:
                print(f"| {server} | {scenario} | (did not start) | | |")
                continue
            requests, counts = result
            if not requests:
                print(f"| {server} | {scenario} | 0 | | |")
                continue
            total = counts.get("total", 0)
            parts = [f"{n} {counts[n] / requests:.3f}" for n in NAMES if counts.get(n)]
            print(f"| {server} | {scenario} | {requests} | {total / requests:.3f} | "
                  f"{', '.join(parts)} |", flush=True)


if __name__ == "__main__":
    main()
