#!/usr/bin/env python3
"""Smoke test for a peer server on 127.0.0.1: routes, pipelining, split requests.

usage: bench/peers/smoke.py PORT [--ceiling]

--ceiling: the ceiling server answers every request with the plaintext response,
so only that is checked (no /json, no 404).
"""
import socket
import sys
import time

PORT = int(sys.argv[1])
CEILING = "--ceiling" in sys.argv[2:]
DEADLINE = time.monotonic() + 20  # the whole test is bounded in time


def request(path):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def read_responses(sock, n):
    """Reads n responses (Content-Length framed); returns [(status, headers, body)]."""
    buf = b""
    out = []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} of {n} responses"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            buf += chunk
        out.append((status, headers, buf[:length]))
        buf = buf[length:]
    return out


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def expect(resp, status, body, ctype):
    st, headers, b = resp
    assert st == status, (st, headers, b)
    if body is not None:
        assert b == body, b
    if ctype is not None:
        assert headers.get("content-type", "").startswith(ctype), headers
    assert "date" in headers, headers


PLAIN = (200, b"Hello, World!", "text/plain")
JSON = (200, b'{"message":"Hello, World!"}', "application/json")
NOT_FOUND = (404, None, None)

cases = [("/plaintext", PLAIN)]
if not CEILING:
    cases += [("/json", JSON), ("/nope", NOT_FOUND)]

with connect() as s:
    # one at a time on one keep-alive connection
    for path, want in cases * 3:
        s.sendall(request(path))
        expect(read_responses(s, 1)[0], *want)
    # pipelined: all in one write, answers in order
    batch = [c for _ in range(16) for c in cases]
    s.sendall(b"".join(request(p) for p, _ in batch))
    for resp, (_, want) in zip(read_responses(s, len(batch)), batch):
        expect(resp, *want)
    # a request split byte by byte across writes (also splits \r\n\r\n)
    for byte in request("/plaintext"):
        s.sendall(bytes([byte]))
        time.sleep(0.001)
    expect(read_responses(s, 1)[0], *PLAIN)
    assert time.monotonic() < DEADLINE, "took too long"

print(f"ok: port {PORT}{' (ceiling mode)' if CEILING else ''}")
