#!/usr/bin/env python3
"""HTTP/2 comparison: h2load against peregrine, nginx (http2) and hyper (h2), GET /plaintext.

usage: bench/h2load.py [--rounds N] [--requests N] [--streams LIST]

Each server runs on one core pinned to CPU 0 (peregrine: one worker; nginx: master_process
off; hyper: tokio current_thread), h2load on CPU 1, all HTTP/2 with prior knowledge over
cleartext. For each round, each number of concurrent streams per connection (`-m`, default
1 and 100, 64 connections) and each server in turn (interleaved, so drift hits all alike),
it records requests per second and the server's CPU time per request (utime + stime of the
server process from /proc/PID/stat around the run, over the requests h2load completed).
Prints the medians as a markdown table. Needs target/release/peregrine,
bench/peers/hyper/target/release/hyper-peer, nginx and h2load (nghttp2-client).

Traffic goes to 127.0.0.1 only; every run is bounded (h2load -n, a timeout per step).
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def servers(port):
    return {
        "peregrine": [
            os.path.join(ROOT, "target/release/peregrine"),
            "--urls", f"http://127.0.0.1:{port}", "--workers", "1", "--cpus", "0",
            "--protocols", "Http2",
        ],
        "nginx": [os.path.join(ROOT, "bench/nginx/run.sh"), str(port), "h2"],
        "hyper": [
            os.path.join(ROOT, "bench/peers/hyper/target/release/hyper-peer"),
            "--addr", f"127.0.0.1:{port}", "--h2",
        ],
    }


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def wait_listening(port, proc):
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited ({proc.returncode}) before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def h2load(port, streams, requests):
    cmd = ["taskset", "-c", "1", "h2load", "-c", "64", "-m", str(streams), "-n", str(requests),
           "-T", "30", f"http://127.0.0.1:{port}/plaintext"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    if not done or not rps:
        sys.exit(f"h2load output not understood:\n{out}")
    return int(done.group(2)), float(rps.group(1)), int(done.group(1)) - int(done.group(2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=200_000)
    p.add_argument("--streams", default="1,100")
    a = p.parse_args()
    streams = [int(s) for s in a.streams.split(",")]
    port = 18090
    results = {}  # (server, streams) -> [(rps, cpu_us)]
    for r in range(a.rounds):
        for m in streams:
            for name, cmd in servers(port).items():
                proc = subprocess.Popen(["taskset", "-c", "0"] + cmd,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    wait_listening(port, proc)
                    h2load(port, m, 5_000)  # warm-up
                    before = cpu_ticks(proc.pid)
                    ok, rps, failed = h2load(port, m, a.requests)
                    used = cpu_ticks(proc.pid) - before
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                cpu_us = used / TICK * 1e6 / max(ok, 1)
                results.setdefault((name, m), []).append((rps, cpu_us, failed))
                print(f"round {r + 1} -m {m} {name}: {rps:.0f} req/s, "
                      f"{cpu_us:.2f} us CPU/request, {failed} failed", file=sys.stderr)
                time.sleep(0.5)
    print("| server | streams per connection (-m) | req/s (median) | server CPU us/request "
          "(median) | failed |")
    print("|---|---|---|---|---|")
    for (name, m), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"| {name} | {m} | {statistics.median(x[0] for x in runs):.0f} | "
              f"{statistics.median(x[1] for x in runs):.2f} | {sum(x[2] for x in runs)} |")


if __name__ == "__main__":
    main()
