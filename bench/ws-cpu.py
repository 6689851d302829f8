#!/usr/bin/env python3
"""Server CPU per echoed WebSocket message: peregrine vs the tokio-tungstenite and soketto peers.

    cargo build --release -p peregrine -p peregrine-load
    (cd bench/peers/tokio-tungstenite && cargo build --release)
    (cd bench/peers/soketto && cargo build --release)
    python3 bench/ws-cpu.py [--rounds N] [--duration S] [--connections C]

Each server runs alone with one worker (one thread of work) pinned to CPU 0; the load
(`peregrine-load --ws`, closed loop, C connections, one message in flight each) runs on
CPU 1. For every case (64 B and 16 KiB text messages, plain and with permessage-deflate)
the servers are interleaved within each round. The server's CPU time (all its threads,
/proc/PID/task/*/schedstat) from before the load starts to after it ends (connection
setup included, a few ms against seconds) is divided by the echoes counted.

Prints a markdown table: median ns of server CPU per message, median messages/s, the share
of echoes that came compressed (RSV1, counted by the load generator), and the ratios to each
peer. tungstenite has no permessage-deflate, so the compressed rows compare with soketto only.
soketto compresses every message with a fresh zlib stream at level 1 (not configurable): the
load generator offers `server_no_context_takeover; client_no_context_takeover`, and peregrine
runs at `--ws-compression-level 1 --ws-compression-threshold 0` in those rows, so that both do
the same work per message; the `peregrine (defaults)` row shows the default policy (messages
under 1 KiB go uncompressed).
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
    "soketto": ["taskset", "-c", "0", "bench/peers/soketto/target/release/soketto-peer",
                "--addr", "127.0.0.1:{port}"],
    # Compressed rows only: peregrine's default compression policy.
    "peregrine (defaults)": ["target/release/peregrine", "--workers", "1", "--cpus", "0",
                             "--urls", "http://127.0.0.1:{port}",
                             "--ws-keep-alive-interval", "off"],
}
# In the compressed rows, the peregrine servers match soketto's work: level 1, every message.
SAME_AS_SOKETTO = ["--ws-compression-level", "1", "--ws-compression-threshold", "0"]
PEERS = ("tokio-tungstenite", "soketto")
CASES = [(64, False), (16384, False), (64, True), (16384, True)]


def applies(name, compress):
    """Whether a server runs in a case: tungstenite has no deflate; the defaults row is for
    the compressed cases."""
    if compress:
        return name != "tokio-tungstenite"
    return name != "peregrine (defaults)"


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


def start(name, compress):
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in SERVERS[name]]
    if compress and name in ("peregrine", "peregrine-portable"):
        cmd += SAME_AS_SOKETTO
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
    p, port = start(name, compress)
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
        if summary["errors"]:
            sys.exit(f"ws-cpu.py: load against {name} had errors: {summary['first_error']}")
        share = summary["compressed_messages"] / max(msgs, 1)
        return (after - before) / max(msgs, 1), summary["messages_per_sec"], share
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    results = {}
    for r in range(ROUNDS):
        for size, compress in CASES:
            for name in SERVERS:
                if not applies(name, compress):
                    continue
                ns, rate, share = run(name, size, compress)
                results.setdefault((size, compress, name), []).append((ns, rate, share))
                print(f"round {r + 1}: {name} {size} B{' deflate' if compress else ''}: "
                      f"{ns:.0f} ns/msg, {rate:.0f} msg/s, {share:.0%} compressed",
                      file=sys.stderr)
    print("| message | server | CPU ns per echoed message (median) | messages/s (median) "
          "| echoes compressed | vs tokio-tungstenite | vs soketto |")
    print("|---|---|---|---|---|---|---|")
    for size, compress in CASES:
        peer_ns = {}
        for peer in PEERS:
            rows = results.get((size, compress, peer))
            if rows:
                peer_ns[peer] = statistics.median(x[0] for x in rows)
        for name in SERVERS:
            rows = results.get((size, compress, name))
            if not rows:
                continue
            ns = statistics.median(x[0] for x in rows)
            rate = statistics.median(x[1] for x in rows)
            share = statistics.median(x[2] for x in rows)
            ratios = [f"{ns / peer_ns[p]:.2f}" if p in peer_ns else "(no deflate)"
                      for p in PEERS]
            label = f"{size} B{' deflate' if compress else ''}"
            print(f"| {label} | {name} | {ns:,.0f} | {rate:,.0f} | {share:.0%} | "
                  f"{' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
