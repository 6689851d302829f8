#!/usr/bin/env python3
"""Server CPU per request, HTTP vs HTTPS (docs/https.md, "Measurements").

Starts the release binary with one worker on http:// and https:// ports, drives it with a
Python client (its own CPU is not counted), and reads the server's CPU time from
/proc/PID/task/*/schedstat (nanoseconds, every thread) before and after each run:

    cargo build --release && python3 bench/tls-cpu.py [ENGINE]

Runs: N keep-alive requests one at a time; the same N in pipelined batches of 16; and
connections that each do a handshake (TLS) and one request.
"""
import os, socket, ssl, subprocess, sys, tempfile, time

ENGINE = sys.argv[1] if len(sys.argv) > 1 else "auto"
N = 20000
CONNS = 2000
REQ = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def read_responses(s, n, buf):
    """Reads n responses to GET /plaintext (Content-Length framed)."""
    got = 0
    while got < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].lower()
            i = head.find(b"content-length: ")
            length = int(head[i + 16:].split(b"\r\n")[0])
            if len(buf) >= end + 4 + length:
                buf = buf[end + 4 + length:]
                got += 1
                continue
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    return buf


def main():
    d = tempfile.mkdtemp()
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    srv = subprocess.Popen(["target/release/peregrine", "--workers", "1", "--engine", ENGINE,
                            "--urls", "http://127.0.0.1:0;https://127.0.0.1:0",
                            "--cert", cert, "--key", key],
                           stdout=subprocess.PIPE, text=True)
    ports = {}
    while len(ports) < 2:
        line = srv.stdout.readline()
        if "listening on" in line:
            url = line.split("listening on ")[1].strip()
            ports[url.split(":")[0]] = int(url.rsplit(":", 1)[1])
        elif "engine" in line:
            print(line.strip())
    ctx = ssl.create_default_context(cafile=cert)

    def connect(scheme):
        s = socket.create_connection(("127.0.0.1", ports[scheme]))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ctx.wrap_socket(s, server_hostname="localhost") if scheme == "https" else s

    results = {}
    for scheme in ["http", "https"]:
        s = connect(scheme)
        buf = read_responses(s, 1, (s.sendall(REQ), b"")[1])
        c0 = cpu_ns(srv.pid)
        for _ in range(N):
            s.sendall(REQ)
            buf = read_responses(s, 1, buf)
        results[(scheme, "keep-alive, one at a time")] = (cpu_ns(srv.pid) - c0) / N
        c0 = cpu_ns(srv.pid)
        for _ in range(N // 16):
            s.sendall(REQ * 16)
            buf = read_responses(s, 16, buf)
        results[(scheme, "pipelined, 16 per batch")] = (cpu_ns(srv.pid) - c0) / (N // 16 * 16)
        s.close()
        c0 = cpu_ns(srv.pid)
        for _ in range(CONNS):
            s = connect(scheme)
            s.sendall(REQ)
            read_responses(s, 1, b"")
            s.close()
        results[(scheme, "new connection per request")] = (cpu_ns(srv.pid) - c0) / CONNS
    srv.terminate()
    srv.wait()
    print(f"{'run':32} {'http µs':>10} {'https µs':>10}")
    for run in ["keep-alive, one at a time", "pipelined, 16 per batch", "new connection per request"]:
        print(f"{run:32} {results[('http', run)] / 1000:10.2f} {results[('https', run)] / 1000:10.2f}")


if __name__ == "__main__":
    main()
