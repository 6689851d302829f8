#!/usr/bin/env python3
"""HTTPS CPU per request: peregrine (both engines) against nginx (TLS 1.3) and hyper with
tokio-rustls (docs/performance.md and docs/https.md, "HTTPS against nginx and hyper").

Every server gets one core (CPU 0) and one worker; the load runs on CPU 1. Scenarios:
keep-alive (64 connections, one request in flight each), pipelined (16 in flight per
connection, in one write) and new connections (`Connection: close`: a full TLS 1.3
handshake, X25519 and an ECDSA P-256 signature, per request; no resumption). Load
generators: wrk, h2load --h1 and peregrine-load (h2load only for the first two: it has no
one-request-per-connection mode). For each (scenario, tool) the servers are run in
interleaved rounds; the figure is the median over the rounds of the server's CPU time
(user + system, every thread, /proc/PID/task/*/schedstat) divided by the responses the
tool counted, plus the median rate.

    cargo build --release -p peregrine -p peregrine-load
    (cd bench/peers/hyper-rustls && cargo build --release)
    python3 bench/tls-compare.py [--rounds 3] [--seconds 3] [--only peregrine-uring,nginx]

Needs wrk, h2load (Debian nghttp2-client), nginx, openssl, taskset.
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, LOAD_CPU = "0", "1"


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


def wait_port(port, proc, name):
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited ({proc.returncode}) before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} does not listen on {port}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


NGINX_CONF = """
master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log stderr warn;
pid {d}/nginx.pid;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    tcp_nodelay on;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl reuseport backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        location /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"""


def start(name, d, cert, key):
    port = free_port()
    if name.startswith("peregrine-"):
        engine = name.split("-", 1)[1]
        cmd = [f"{ROOT}/target/release/peregrine", "--workers", "1", "--engine", engine,
               "--urls", f"https://127.0.0.1:{port}", "--cert", cert, "--key", key]
    elif name == "nginx":
        conf = os.path.join(d, f"nginx-{port}.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=port, cert=cert, key=key))
        cmd = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", d, "-c", conf]
    elif name == "hyper-rustls":
        cmd = [f"{ROOT}/bench/peers/hyper-rustls/target/release/hyper-rustls-peer",
               "--addr", f"127.0.0.1:{port}", "--cert", cert, "--key", key]
    else:
        sys.exit(f"unknown server {name}")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port, proc, name)
    return proc, port


def load_cmd(tool, scenario, port, seconds, ca):
    url = f"https://localhost:{port}/plaintext"
    close = scenario == "new-connection"
    if tool == "wrk":
        cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", url]
        if scenario == "pipelined":
            cmd += ["-s", f"{ROOT}/bench/pipeline.lua", "--", "16"]
        if close:
            cmd[1:1] = ["-H", "Connection: close"]
        return cmd
    if tool == "h2load":
        return ["h2load", "--h1", "-t1", "-c64", "-m", "16" if scenario == "pipelined" else "1",
                "-D", str(seconds), url]
    if tool == "peregrine-load":
        cmd = [f"{ROOT}/target/release/peregrine-load", "-t1", "-c64", f"-d{seconds}s",
               "--cacert", ca, "--json", "--allow-errors", url]
        if scenario == "pipelined":
            cmd[1:1] = ["--pipeline", "16"]
        if close:
            cmd[1:1] = ["-H", "Connection: close"]
        return cmd
    sys.exit(f"unknown tool {tool}")


def responses(tool, out):
    """Successful responses the tool counted, and its errors."""
    if tool == "wrk":
        n = int(re.search(r"(\d+) requests in", out).group(1))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        errors = (int(m.group(1)) if m else 0) + (sum(map(int, e.groups())) if e else 0)
        return n - (int(m.group(1)) if m else 0), errors
    if tool == "h2load":
        m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
        return int(m.group(1)), int(m.group(2)) + int(m.group(3))
    j = json.loads(out)
    return j["requests"], j["errors_total"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--only", default="peregrine-uring,peregrine-portable,nginx,hyper-rustls")
    ap.add_argument("--scenarios", default="keep-alive,pipelined,new-connection")
    ap.add_argument("--tools", default="wrk,h2load,peregrine-load")
    args = ap.parse_args()
    servers = args.only.split(",")
    d = tempfile.mkdtemp(prefix="peregrine-tls-compare-")
    cert, key, ca = (os.path.join(d, n) for n in ("chain.pem", "key.pem", "ca.pem"))
    # A CA and a P-256 certificate it issued for localhost (rustls, in peregrine-load, does
    # not take a self-signed CA certificate as the server's own).
    ossl = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=bench CA", "-keyout", os.path.join(d, "ca-key.pem"), "-out", ca)
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=localhost", "-keyout", key, "-out", os.path.join(d, "leaf.csr"))
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    ossl("x509", "-req", "-in", os.path.join(d, "leaf.csr"), "-CA", ca, "-CAkey", os.path.join(d, "ca-key.pem"),
         "-CAcreateserial", "-days", "2", "-extfile", os.path.join(d, "ext"), "-out", cert)
    running = {}
    try:
        for s in servers:
            running[s] = start(s, d, cert, key)
        results = {}
        for scenario in args.scenarios.split(","):
            for tool in args.tools.split(","):
                if tool == "h2load" and scenario == "new-connection":
                    continue
                for r in range(args.rounds):
                    # Interleaved: every server once per round, the order rotated.
                    order = servers[r % len(servers):] + servers[:r % len(servers)]
                    for s in order:
                        proc, port = running[s]
                        cmd = load_cmd(tool, scenario, port, args.seconds, ca)
                        before = cpu_ns(proc.pid)
                        out = subprocess.run(["taskset", "-c", LOAD_CPU] + cmd, capture_output=True,
                                             text=True, timeout=args.seconds + 60)
                        used = cpu_ns(proc.pid) - before
                        n, errors = responses(tool, out.stdout)
                        results.setdefault((scenario, tool, s), []).append(
                            (used / 1000 / max(n, 1), n / args.seconds, errors))
                        print(f"{scenario:15} {tool:15} {s:19} round {r}: {used / 1000 / max(n, 1):7.2f} us/req "
                              f"{n / args.seconds:9.0f} req/s errors {errors}", flush=True)
        print()
        print("| scenario | load | " + " | ".join(servers) + " |")
        print("|---|---|" + "---|" * len(servers))
        for scenario in args.scenarios.split(","):
            for tool in args.tools.split(","):
                if (scenario, tool, servers[0]) not in results:
                    continue
                cells = []
                for s in servers:
                    rows = results[(scenario, tool, s)]
                    cpu = statistics.median(x[0] for x in rows)
                    rate = statistics.median(x[1] for x in rows)
                    errs = sum(x[2] for x in rows)
                    cells.append(f"{cpu:.2f} µs ({rate / 1000:.1f} k/s{', %d errors' % errs if errs else ''})")
                print(f"| {scenario} | {tool} | " + " | ".join(cells) + " |")
    finally:
        for proc, _ in running.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
