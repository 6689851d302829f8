#!/usr/bin/env python3
"""Server CPU per echoed WebSocket message: peregrine vs the tokio-tungstenite peer.

    cargo build --release -p peregrine -p peregrine-load
    (cd bench/peers/tokio-tungstenite && cargo build --release)
    python3 bench/ws-cpu.py [--rounds N] [--duration S] [--connections C]

Each server runs alone with one worker (one thread of work) pinned to CPU 0; the load
(`peregrine-load --ws`, closed loop, C connections, one message in flight each) runs on
CPU 1. For every case (64 B and 16 KiB text messages, plain and with permessage-deflate)
the servers are interleaved within each round. The server's CPU time (all its threads,
/proc/PID/task/*/schedstat) from before the load starts to after it ends (connection
setup included, a few ms against seconds) is divided by the echoes counted.

Prints a markdown table: median ns of server CPU per message, median messages/s, and the
ratio peregrine / peer. The peer has no permessage-deflate (tungstenite does not implement
it): the compressed rows have peregrine only.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROUNDS, DURATION, CONNS = 3, 3, 16
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--rounds":
        ROUNDS = int(args.pop(0))
    elif a == "--duration":
        DURATION = float(args.pop(0))
    elif a == "--connections":
        CONNS = int(args.pop(0))
    else:
        sys.exit(f"ws-cpu.py: unknown option {a}")

LOAD = "target/release/peregrine-load"
SERVERS = {
    "peregrine": ["target/release/peregrine", "--workers", "1", "--cpus", "0",
                  "--urls", "http://127.0.0.1:{port}", "--ws-keep-alive-interval", "off"],
    "peregrine-portable": ["target/release/peregrine", "--workers", "1", "--cpus", "0",
                           "--engine", "portable", "--urls", "http://127.0.0.1:{port}",
                           "--ws-keep-alive-interval", "off"],
    "tokio-tungstenite": ["taskset", "-c", "0",
                          "bench/peers/tokio-tungstenite/target/release/tokio-tungstenite-peer",
                          "--addr", "127.0.0.1:{port}"],
}
CASES = [(64, False), (16384, False), (64, True), (16384, True)]


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name):
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in SERVERS[name]]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                p.kill()
                sys.exit(f"ws-cpu.py: {name} did not start")
            time.sleep(0.05)
    # The process doing the work: taskset execs the peer, so the pid is the server's.
    return p, port


def run(name, size, compress):
    p, port = start(name)
    try:
        before = cpu_ns(p.pid)
        cmd = [LOAD, "--ws", "--message-size", str(size), "-c", str(CONNS), "-d", f"{DURATION}s",
               "--cpus", "1", "--json", f"http://127.0.0.1:{port}/ws"]
        if compress:
            cmd.insert(2, "--compress")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=DURATION + 30)
        after = cpu_ns(p.pid)
        if out.returncode != 0:
            sys.exit(f"ws-cpu.py: load against {name} failed: {out.stderr.strip()}")
        summary = json.loads(out.stdout)
        # Echoes during the whole run (warmup is 0): the summary counts the window.
        msgs = summary["messages"]
        return (after - before) / max(msgs, 1), summary["messages_per_sec"]
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    results = {}
    for r in range(ROUNDS):
        for size, compress in CASES:
            for name in SERVERS:
                if compress and name == "tokio-tungstenite":
                    continue
                ns, rate = run(name, size, compress)
                results.setdefault((size, compress, name), []).append((ns, rate))
                print(f"round {r + 1}: {name} {size} B{' deflate' if compress else ''}: "
                      f"{ns:.0f} ns/msg, {rate:.0f} msg/s", file=sys.stderr)
    print("| message | server | CPU ns per echoed message (median) | messages/s (median) | vs tokio-tungstenite |")
    print("|---|---|---|---|---|")
    for size, compress in CASES:
        peer = results.get((size, compress, "tokio-tungstenite"))
        peer_ns = statistics.median(x[0] for x in peer) if peer else None
        for name in SERVERS:
            rows = results.get((size, compress, name))
            if not rows:
                continue
            ns = statistics.median(x[0] for x in rows)
            rate = statistics.median(x[1] for x in rows)
            ratio = f"{ns / peer_ns:.2f}" if peer_ns else "(no deflate in the peer)"
            label = f"{size} B{' deflate' if compress else ''}"
            print(f"| {label} | {name} | {ns:,.0f} | {rate:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
