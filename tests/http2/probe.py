#!/usr/bin/env python3
"""Frame-level HTTP/2 probes over a real socket, for tests/http2.rs.

Usage: probe.py ATTACK PORT

Each probe opens a connection, sends the attack as raw frames (header blocks encoded with the
`hpack` package that Python's `h2` depends on), reads what the server answers until it closes
or goes quiet, and prints one line per finding (`goaway=CODE last=ID`, `rst=STREAM:CODE`,
...). Then a second connection makes an ordinary request and prints `second=STATUS`, showing
that the attack did not affect other connections.
"""
import socket
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def request_block(encoder, path, method="GET", extra=()):
    return encoder.encode(
        [(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost")]
        + list(extra)
    )


class Conn:
    def __init__(self, port, initial_settings=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.send(PREFACE + settings(initial_settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the server closed: what it said before is read below

    def frames(self, quiet=2.0, until=None):
        """Frames until the server closes, `until(frame)` is true, or `quiet` s without any."""
        self.sock.settimeout(quiet)
        while True:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                kind, flags = self.buf[3], self.buf[4]
                stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload = self.buf[9 : 9 + n]
                self.buf = self.buf[9 + n :]
                f = (kind, flags, stream, payload)
                yield f
                if until and until(f):
                    return
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return
            if not data:
                return
            self.buf += data


def report(frames, dec=None):
    """Prints GOAWAYs, RST_STREAMs and response statuses; returns the GOAWAY code if any."""
    goaway = None
    for kind, flags, stream, payload in frames:
        if kind == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            code = int.from_bytes(payload[4:8], "big")
            print(f"goaway={code} last={last}")
            goaway = code
        elif kind == RST:
            print(f"rst={stream}:{int.from_bytes(payload[:4], 'big')}")
        elif kind == HEADERS and dec is not None:
            for name, value in dec.decode(payload):
                if name == ":status":
                    print(f"status={stream}:{value}")
        elif kind == DATA and payload:
            print(f"data={stream}:{len(payload)}")
    return goaway


def second(port):
    c = Conn(port)
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(c.enc, "/hello")))
    for kind, flags, stream, payload in c.frames(until=lambda f: f[0] == DATA and f[1] & END_STREAM):
        if kind == HEADERS:
            for name, value in c.dec.decode(payload):
                if name == ":status":
                    print(f"second={value}")
                    return
    print("second=none")


def rapid_reset(port):
    c = Conn(port)
    out = b""
    for i in range(1000):
        sid = 2 * i + 1
        out += frame(HEADERS, END_STREAM | END_HEADERS, sid, request_block(c.enc, "/slow"))
        out += frame(RST, 0, sid, struct.pack(">I", 8))
    c.send(out)
    report(c.frames())


def continuation(port):
    c = Conn(port)
    block = request_block(c.enc, "/hello")
    out = frame(HEADERS, END_STREAM, 1, block)
    out += b"".join(frame(CONT, 0, 1, b"") for _ in range(100))
    c.send(out)
    report(c.frames())


def hpack_bomb(port):
    c = Conn(port)
    # One 4000-byte field into the dynamic table (literal with incremental indexing, new name),
    # in a valid first request; then a block of 1000 one-byte references to it (4 MB decoded).
    name, value = b"x-bomb", b"a" * 4000
    lit = bytes([0x40]) + hpack_str(name) + hpack_str(value)
    first = request_block(c.enc, "/hello") + lit
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, first))
    bomb = request_block(c.enc, "/hello") + bytes([0x80 | 62]) * 1000
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, bomb))
    report(c.frames())


def hpack_str(s):
    assert len(s) < 127 * 128
    if len(s) < 127:
        return bytes([len(s)]) + s
    n = len(s) - 127
    out = [127]
    while n >= 128:
        out.append((n % 128) | 0x80)
        n //= 128
    out.append(n)
    return bytes(out) + s


def settings_flood(port):
    c = Conn(port)
    c.send(b"".join(settings() for _ in range(2000)))
    report(c.frames())


def ping_flood(port):
    c = Conn(port)
    c.send(b"".join(frame(PING, 0, 0, b"12345678") for _ in range(2000)))
    report(c.frames())


def too_many_streams(port):
    c = Conn(port)
    out = b""
    for i in range(101):
        out += frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, request_block(c.enc, "/slow"))
    c.send(out)
    report(c.frames(quiet=1.5))


def window_never_opened(port):
    # SETTINGS_INITIAL_WINDOW_SIZE 0: no response DATA may flow.
    c = Conn(port, [(0x4, 0)])
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(c.enc, "/big")))
    report(c.frames(quiet=6.0, until=lambda f: f[0] == RST), c.dec)


def graceful(port):
    """A slow request in flight while the server stops: its response completes, and GOAWAY
    names it as the last stream."""
    c = Conn(port)
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(c.enc, "/finish")))
    print("sent", flush=True)
    report(c.frames(quiet=8.0), c.dec)


def idle(port):
    """A connection that opens no stream: GOAWAY after the keep-alive timeout, then the close."""
    c = Conn(port)
    frames = list(c.frames(quiet=6.0))
    report(frames)
    c.sock.settimeout(0.5)
    try:
        data = c.sock.recv(1)
        print("closed" if not data else "open")
    except socket.timeout:
        print("open")
    except OSError:
        print("closed")


def h1_on_h2_only(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c = Conn.__new__(Conn)
    c.sock, c.buf = s, b""
    report(c.frames())


PROBES = {
    "rapid_reset": rapid_reset,
    "continuation": continuation,
    "hpack_bomb": hpack_bomb,
    "settings_flood": settings_flood,
    "ping_flood": ping_flood,
    "too_many_streams": too_many_streams,
    "window_never_opened": window_never_opened,
    "graceful": graceful,
    "h1_on_h2_only": h1_on_h2_only,
    "idle": idle,
}

if __name__ == "__main__":
    attack, port = sys.argv[1], int(sys.argv[2])
    PROBES[attack](port)
    if attack not in ("graceful", "h1_on_h2_only", "idle"):
        second(port)
    sys.stdout.flush()
