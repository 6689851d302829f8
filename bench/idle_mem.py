#!/usr/bin/env python3
"""Memory per idle keep-alive connection of an HTTP server on 127.0.0.1.

usage: bench/idle_mem.py [--conns N] [--cpu C] [--websocket] PORT -- COMMAND...

Starts COMMAND (a server listening on 127.0.0.1:PORT; "{port}" in it is replaced) pinned
to CPU C (default 0), waits until it answers, and reads its RSS (VmRSS of the server
process). Then, from this process (the client side of the sockets lives here, not in
the server), opens N (default 10000) connections in batches of 200, sends one
`GET /plaintext` on each and reads the answer, so every connection is accepted, has
served a request and sits idle in keep-alive. One second later it reads the RSS
again, checks how many connections are still open (a second request on each), and
closes everything and stops the server.

With --websocket, each connection is a WebSocket instead (`GET /ws` upgraded, as the demo
application and bench/peers/tokio-tungstenite serve it): it sends one text message and reads
its echo, then sits idle; the check at the end sends another.

Prints one CSV line: port,conns,alive,rss_before_kib,rss_after_kib,bytes_per_conn
(bytes_per_conn = RSS delta / N). RSS is user-space memory only: the kernel's socket
buffers are not in it, and they are the same for every server.

Every step is bounded: 5 s per socket operation, 120 s for the whole run.
"""
import os
import resource
import signal
import socket
import subprocess
import sys
import time

DEADLINE = time.monotonic() + 120
BATCH = 200
REQ = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def fail(msg):
    print(f"idle_mem.py: {msg}", file=sys.stderr)
    sys.exit(1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail(f"no VmRSS for pid {pid}")


def read_response(sock):
    """Reads one response to GET /plaintext (its body is the last thing in it)."""
    buf = b""
    while not buf.endswith(b"Hello, World!"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"unexpected answer {buf[:40]!r}")


WS_UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
# A masked text frame "hi" (mask 00 00 00 00), and the server's unmasked echo.
WS_HI = b"\x81\x82\x00\x00\x00\x00hi"
WS_ECHO = b"\x81\x02hi"


def ws_echo(sock, pending=b""):
    sock.sendall(WS_HI)
    buf = pending
    while len(buf) < len(WS_ECHO):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    if buf != WS_ECHO:
        raise ConnectionError(f"unexpected frame {buf[:40]!r}")


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(REQ)
            read_response(s)
            return True
    except OSError:
        return False


def main():
    args = sys.argv[1:]
    conns, cpu, websocket = 10000, "0", False
    while args and args[0].startswith("--") and args[0] != "--":
        opt = args.pop(0)
        if opt == "--conns":
            conns = int(args.pop(0))
        elif opt == "--cpu":
            cpu = args.pop(0)
        elif opt == "--websocket":
            websocket = True
        else:
            fail(f"unknown option {opt}")
    if len(args) < 3 or args[1] != "--":
        fail("usage: idle_mem.py [--conns N] [--cpu C] PORT -- COMMAND...")
    port = int(args[0])
    command = [a.replace("{port}", str(port)) for a in args[2:]]

    # N client sockets here and N server sockets there: raise the soft limit to the
    # hard one (20000 on the bench machine); the server inherits it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < conns + 100:
        fail(f"ulimit -n hard limit {hard} is too low for {conns} connections")

    if answers(port):
        fail(f"port {port} is already in use")
    server = subprocess.Popen(["taskset", "-c", cpu, *command],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socks = []
    try:
        while not answers(port):
            if server.poll() is not None:
                fail(f"server exited during startup: {command}")
            if time.monotonic() > DEADLINE - 100:
                fail("server did not answer within 20 s")
            time.sleep(0.1)
        # Warm up the allocator and the server's per-connection pools a little, then
        # take the baseline.
        for _ in range(10):
            answers(port)
        time.sleep(0.5)
        before = rss_kib(server.pid)
        for start in range(0, conns, BATCH):
            if time.monotonic() > DEADLINE:
                fail("out of time opening connections")
            batch = []
            for _ in range(min(BATCH, conns - start)):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                if websocket:
                    s.sendall(WS_UPGRADE)
                else:
                    s.sendall(REQ)
                batch.append(s)
            for s in batch:
                if websocket:
                    buf = b""
                    while b"\r\n\r\n" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            raise ConnectionError("closed during the handshake")
                        buf += chunk
                    if not buf.startswith(b"HTTP/1.1 101"):
                        raise ConnectionError(f"unexpected answer {buf[:40]!r}")
                    ws_echo(s, buf.split(b"\r\n\r\n", 1)[1])
                else:
                    read_response(s)
            socks.extend(batch)
        time.sleep(1)
        after = rss_kib(server.pid)
        alive = 0
        for s in socks:
            try:
                if websocket:
                    ws_echo(s)
                else:
                    s.sendall(REQ)
                    read_response(s)
                alive += 1
            except OSError:
                pass
        per_conn = (after - before) * 1024 / conns
        print(f"{port},{conns},{alive},{before},{after},{per_conn:.0f}")
    finally:
        for s in socks:
            s.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
