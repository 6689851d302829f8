#!/usr/bin/env python3
"""A fixed amount of HTTP/1.1 load for counting a server's instructions per request
(bench/process-instructions.sh): TOTAL requests for PATH over CONNS keep-alive connections, DEPTH
pipelined per write, each batch read back before the next is sent. Prints the number of 200
responses and exits non-zero if a connection closes early.

usage: pipeline_client.py HOST PORT TOTAL DEPTH CONNS [PATH]
"""
import socket, sys, selectors
host, port, total, depth, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
path = sys.argv[6] if len(sys.argv) > 6 else "/plaintext"
req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
per_conn = total // conns
socks = [socket.create_connection((host, port)) for _ in range(conns)]
done = 0
for s in socks:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# each connection: send batch of `depth`, read until `depth` responses (count "HTTP/1.1 200")
state = {s: [per_conn, b""] for s in socks}
sel = selectors.DefaultSelector()
for s in socks:
    n = min(depth, state[s][0]); s.sendall(req * n); state[s].append(n)
    sel.register(s, selectors.EVENT_READ)
ok = 0
while state:
    events = sel.select(timeout=10)
    if not events:
        raise SystemExit("no response for 10 s (only /plaintext and /json bodies are recognised)")
    for key, _ in events:
        s = key.fileobj
        left, buf, inflight = state[s]
        data = s.recv(1 << 20)
        if not data: raise SystemExit("the server closed a connection early")
        buf += data
        c = buf.count(b"HTTP/1.1 200 ")
        if c >= inflight and buf.endswith(b"!") or c >= inflight and buf.endswith(b"}"):
            ok += c; left -= inflight
            if left == 0:
                sel.unregister(s); s.close(); del state[s]; continue
            n = min(depth, left); s.sendall(req * n); state[s] = [left, b"", n]
        else:
            state[s] = [left, buf, inflight]
print(ok)
