#!/usr/bin/env python3
"""What the access log costs pipelined, split by thread (issue 13: at most +10% CPU per request).

Starts each server pinned to CPU 0 (the whole process, so the access log writer thread shares
the worker's CPU, as in bench/run-all.sh), its stderr (the access log) to a file, drives it with
wrk pinned to CPU 1 (pipelined 16 deep, 256 connections, bench/pipeline.lua), servers interleaved
round by round, and reads per thread, before and after each run:

- CPU time from /proc/PID/task/TID/schedstat (nanoseconds),
- voluntary and involuntary context switches from /proc/PID/task/TID/status.

It prints, per server, the medians over rounds of: CPU µs per request (whole process and per
thread name), context switches per 1,000 requests (per thread name) and log bytes per request.

    cargo build --release --bin peregrine
    python3 bench/access-log-cpu.py [--rounds 5] [--duration 3] [NAME=COMMAND ...]

COMMAND is run by bash with {port} filled in; the default servers are `peregrine` and
`peregrine-logged` (target/release/peregrine, io_uring, one worker, without and with
--access-log). Traffic goes to 127.0.0.1 only; every step is bounded in time.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "pipeline.lua")
BASE_PORT = int(os.environ.get("BASE_PORT", "18180"))
BIN = "target/release/peregrine --engine uring --urls http://127.0.0.1:{port} --workers 1"
DEFAULT = [("peregrine", BIN), ("peregrine-logged", BIN + " --access-log")]


def threads(pid):
    """{tid: (name, cpu_ns, voluntary, involuntary)} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue
        name = re.search(r"^Name:\s*(.*)$", status, re.M).group(1)
        vol = int(re.search(r"^voluntary_ctxt_switches:\s*(\d+)", status, re.M).group(1))
        inv = int(re.search(r"^nonvoluntary_ctxt_switches:\s*(\d+)", status, re.M).group(1))
        out[tid] = (name, ns, vol, inv)
    return out


def answers(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/plaintext", timeout=1).read()
        return True
    except OSError:
        return False


def wrk(port, duration, conns, lua=True):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
           f"http://127.0.0.1:{port}/plaintext"]
    if lua:
        cmd += ["-s", LUA]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    return int(m.group(1))


def run(name, command, port, duration, logdir):
    log = os.path.join(logdir, f"{name}.log")
    cmd = command.replace("{port}", str(port))
    with open(log, "wb") as f:
        server = subprocess.Popen(["taskset", "-c", "0", "bash", "-c", "exec " + cmd],
                                  cwd=ROOT, stdout=f, stderr=f)
    try:
        deadline = time.time() + 10
        while not answers(port):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{name} did not start; see {log}")
            time.sleep(0.1)
        wrk(port, 1, 64, lua=False)  # warm up
        size0 = os.path.getsize(log)
        before = threads(server.pid)
        requests = wrk(port, duration, 256)
        after = threads(server.pid)
        size1 = os.path.getsize(log)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    row = {"requests": requests, "log_bytes": (size1 - size0) / requests, "cpu": 0.0}
    for tid, (tname, ns, vol, inv) in after.items():
        _, ns0, vol0, inv0 = before.get(tid, (tname, 0, 0, 0))
        us = (ns - ns0) / 1e3 / requests
        row["cpu"] += us
        row[f"cpu {tname}"] = row.get(f"cpu {tname}", 0.0) + us
        row[f"vcsw {tname}"] = row.get(f"vcsw {tname}", 0.0) + (vol - vol0) * 1e3 / requests
        row[f"ivcsw {tname}"] = row.get(f"ivcsw {tname}", 0.0) + (inv - inv0) * 1e3 / requests
    return row


def main():
    rounds, duration, servers = 5, 3, []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--rounds":
            rounds = int(args.pop(0))
        elif a == "--duration":
            duration = int(args.pop(0))
        elif "=" in a:
            servers.append(tuple(a.split("=", 1)))
        else:
            sys.exit(f"access-log-cpu.py: unexpected argument {a!r} (see the docstring)")
    servers = servers or DEFAULT
    rows = {name: [] for name, _ in servers}
    with tempfile.TemporaryDirectory() as logdir:
        for r in range(rounds):
            for i, (name, command) in enumerate(servers):
                row = run(name, command, BASE_PORT + i, duration, logdir)
                rows[name].append(row)
                print(f"round {r + 1} {name}: {row['cpu']:.3f} us/req, "
                      f"{row['requests'] / duration:.0f} req/s", file=sys.stderr)
    base = statistics.median(r["cpu"] for r in rows[servers[0][0]])
    print(f"median of {rounds} rounds x {duration} s, pipelined 16 deep, 256 connections; "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, _ in servers:
        keys = sorted({k for r in rows[name] for k in r if k != "requests"})
        med = {k: statistics.median(r.get(k, 0.0) for r in rows[name]) for k in keys}
        reqs = statistics.median(r["requests"] for r in rows[name]) / duration
        print(f"\n{name}: {med['cpu']:.3f} us/req ({med['cpu'] / base:.2f}x {servers[0][0]}), "
              f"{reqs:.0f} req/s, log {med['log_bytes']:.0f} B/req; "
              f"rounds " + ", ".join("%.3f" % r["cpu"] for r in rows[name]))
        for k in keys:
            if k.startswith(("cpu ", "vcsw ", "ivcsw ")) and med[k] > 0:
                unit = "us/req" if k.startswith("cpu") else "per 1k req"
                print(f"  {k:32} {med[k]:9.3f} {unit}")


if __name__ == "__main__":
    main()
