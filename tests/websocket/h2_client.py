#!/usr/bin/env python3
"""WebSockets over HTTP/2 (RFC 8441) at the frame level, for tests/websocket.rs.

Usage: h2_client.py MODE PORT

Python's `h2` (PyPI) speaks HTTP/2; the WebSocket frames inside the DATA frames are built and
parsed here (masked from the client, as RFC 6455 5.3 requires). Each mode prints one line per
finding (`setting=1`, `status=200`, `echo=...`, ...) for the Rust test to check, and exits 0
unless the conversation broke down.

Modes:
  echo        the setting, the extended CONNECT to /ws, echoes (one DATA frame, one frame split
              across DATA frames, a fragmented message, 100 KB binary), Ping, the close
              handshake, END_STREAM from the server
  badversion  Sec-WebSocket-Version: 8 -> 400 with Sec-WebSocket-Version: 13
  disabled    against a server without the setting: no setting, the extended CONNECT is reset
              (PROTOCOL_ERROR), a GET on the same connection still works
  reset       open a WebSocket, then RST_STREAM(CANCEL) it; another one on the same
              connection closes normally
  limit       against max-upgraded-connections 1: a second WebSocket gets 503, a third one
              after the first closed gets 200
  tls         over TLS with ALPN h2: the setting, an echo, the close handshake
  noread      open a WebSocket and read nothing for 3 s (the server's sends must wait)
"""
import os
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import zlib


def ws_frame(opcode, payload, fin=True, rsv1=False):
    """A masked client frame."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_ws(buf):
    """(fin, opcode, payload, rest) of the first whole server frame in buf, or None."""
    if len(buf) < 2:
        return None
    fin, opcode = buf[0] & 0x80, buf[0] & 0x0F
    if buf[0] & 0x40:
        opcode |= 0x40  # RSV1: a compressed message (permessage-deflate)
    if buf[1] & 0x80:
        raise SystemExit("error: the server masked a frame")
    n, pos = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, pos = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, pos = struct.unpack(">Q", buf[2:10])[0], 10
    if len(buf) < pos + n:
        return None
    return bool(fin), opcode, buf[pos : pos + n], buf[pos + n :]


class Client:
    def __init__(self, port, validate=True, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.alpn = None
        if tls:
            # A self-signed test certificate: no verification; HTTP/2 chosen by ALPN.
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            self.alpn = self.sock.selected_alpn_protocol()
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=validate
        )
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.flush()
        self.settings = None
        self.responses = {}
        self.data = {}
        self.ended = set()
        self.resets = {}
        self.ws = b""

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, until):
        """Reads and handles events until `until()` holds."""
        while not until():
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("error: the server closed the connection")
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.RemoteSettingsChanged):
                    if self.settings is None:
                        self.settings = {int(k): v.new_value for k, v in ev.changed_settings.items()}
                elif isinstance(ev, h2.events.ResponseReceived):
                    self.responses[ev.stream_id] = {
                        k.decode(): v.decode() for k, v in ev.headers
                    }
                elif isinstance(ev, h2.events.DataReceived):
                    self.data.setdefault(ev.stream_id, b"")
                    self.data[ev.stream_id] += ev.data
                    # Reading opens the window again (flow control both ways).
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.resets[ev.stream_id] = int(ev.error_code)
            self.flush()

    def connect(self, sid, version=b"13", protocol=b"websocket", extra=()):
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", protocol),
            (b":scheme", b"http"),
            (b":path", b"/ws"),
            (b":authority", b"localhost"),
            (b"sec-websocket-version", version),
            (b"sec-websocket-protocol", b"chat, echo"),
        ] + list(extra)
        self.conn.send_headers(sid, headers)
        self.flush()
        self.pump(lambda: sid in self.responses or sid in self.resets)

    def send(self, sid, data):
        """Sends `data` in DATA frames as the window allows."""
        while data:
            window = self.conn.local_flow_control_window(sid)
            n = min(len(data), window, self.conn.max_outbound_frame_size)
            if n == 0:
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0)
                continue
            self.conn.send_data(sid, data[:n])
            self.flush()
            data = data[n:]

    def message(self, sid):
        """The next whole server message (fragments joined): (opcode, payload)."""
        opcode, parts = None, b""
        while True:
            def whole():
                return parse_ws(self.data.get(sid, b"")) is not None or sid in self.ended

            self.pump(whole)
            f = parse_ws(self.data.get(sid, b""))
            if f is None:
                return None, b""
            fin, op, payload, rest = f
            self.data[sid] = rest
            if op & 0x0F >= 8:
                return op, payload
            opcode = op if opcode is None else opcode
            parts += payload
            if fin:
                return opcode, parts


def echo(port):
    c = Client(port)
    c.pump(lambda: c.settings is not None)
    print(f"setting={c.settings.get(int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL), 0)}")
    c.connect(1)
    r = c.responses[1]
    print(f"status={r[':status']}")
    print(f"accept={r.get('sec-websocket-accept', '-')}")
    print(f"upgrade={r.get('upgrade', '-')}")
    print(f"subprotocol={r.get('sec-websocket-protocol', '-')}")
    # One message in one DATA frame.
    c.send(1, ws_frame(1, b"hello"))
    op, p = c.message(1)
    print(f"echo={op}:{p.decode()}")
    # One frame split across three DATA frames.
    f = ws_frame(1, "split across DATA frames: é".encode())
    for part in (f[:1], f[1:7], f[7:]):
        c.conn.send_data(1, part)
        c.flush()
    op, p = c.message(1)
    print(f"split={op}:{p.decode()}")
    # A fragmented message: two frames in two DATA frames, a Ping between them.
    c.send(1, ws_frame(1, b"frag", fin=False))
    c.send(1, ws_frame(9, b"ping!"))
    c.send(1, ws_frame(0, b"mented", fin=True))
    op, p = c.message(1)
    print(f"pong={op}:{p.decode()}")
    op, p = c.message(1)
    print(f"fragmented={op}:{p.decode()}")
    # Larger than the default 64 KiB windows: flow control both ways.
    blob = bytes(i % 251 for i in range(100_000))
    c.send(1, ws_frame(2, blob))
    op, p = c.message(1)
    print(f"binary={op}:{len(p)}:{p == blob}")
    # The close handshake: the server echoes the Close and ends the stream.
    c.send(1, ws_frame(8, struct.pack(">H", 1000) + b"bye"))
    op, p = c.message(1)
    code = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None
    print(f"close={op}:{code}")
    c.pump(lambda: 1 in c.ended or 1 in c.resets)
    print(f"end_stream={1 in c.ended}")
    # The connection goes on: another WebSocket on stream 3, with permessage-deflate.
    c.connect(3, extra=[(b"sec-websocket-extensions", b"permessage-deflate")])
    print(f"extensions={c.responses[3].get('sec-websocket-extensions', '-')}")
    deflate = zlib.compressobj(wbits=-15)
    body = deflate.compress(b"again " * 50) + deflate.flush(zlib.Z_SYNC_FLUSH)
    c.send(3, ws_frame(1, body[:-4], rsv1=True))
    op, p = c.message(3)
    if op & 0x40:
        p = zlib.decompressobj(wbits=-15).decompress(p + b"\x00\x00\xff\xff")
    print(f"second={op}:{p.decode() == 'again ' * 50}")
    c.send(3, ws_frame(8, struct.pack(">H", 1000)))
    c.message(3)
    c.pump(lambda: 3 in c.ended or 3 in c.resets)
    print("ok")


def badversion(port):
    c = Client(port)
    c.connect(1, version=b"8")
    r = c.responses[1]
    print(f"status={r[':status']}")
    print(f"version={r.get('sec-websocket-version', '-')}")
    c.pump(lambda: 1 in c.ended or 1 in c.resets)
    print("ok")


def disabled(port):
    c = Client(port, validate=False)
    c.pump(lambda: c.settings is not None)
    print(f"setting={c.settings.get(int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL), 0)}")
    c.connect(1)
    print(f"reset={c.resets.get(1, '-')}")
    c.conn.send_headers(
        3,
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"x")],
        end_stream=True,
    )
    c.flush()
    c.pump(lambda: 3 in c.ended)
    print(f"get={c.responses[3][':status']}")
    print("ok")


def reset(port):
    c = Client(port)
    c.connect(1)
    print(f"status={c.responses[1][':status']}")
    c.send(1, ws_frame(1, b"hello"))
    c.conn.reset_stream(1, error_code=8)
    c.flush()
    # The connection stays usable.
    c.connect(3)
    print(f"second_status={c.responses[3][':status']}")
    c.send(3, ws_frame(8, struct.pack(">H", 1000)))
    c.message(3)
    print("ok")


def limit(port):
    c = Client(port)
    c.connect(1)
    print(f"first={c.responses[1][':status']}")
    c.connect(3)
    r = c.responses[3]
    print(f"second={r[':status']}:{r.get('retry-after', '-')}:{r.get('sec-websocket-protocol', '-')}")
    c.pump(lambda: 3 in c.ended or 3 in c.resets)
    # The first one closes: its slot is free again.
    c.send(1, ws_frame(8, struct.pack(">H", 1000)))
    c.message(1)
    c.pump(lambda: 1 in c.ended or 1 in c.resets)
    for _ in range(100):
        c.connect(c.conn.get_next_available_stream_id())
        sid = max(c.responses)
        if c.responses[sid][":status"] == "200":
            break
        time.sleep(0.05)
    print(f"third={c.responses[sid][':status']}")
    print("ok")


def tls(port):
    c = Client(port, tls=True)
    print(f"alpn={c.alpn}")
    c.pump(lambda: c.settings is not None)
    print(f"setting={c.settings.get(int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL), 0)}")
    c.connect(1)
    print(f"status={c.responses[1][':status']}")
    c.send(1, ws_frame(1, b"over TLS"))
    op, p = c.message(1)
    print(f"echo={op}:{p.decode()}")
    c.send(1, ws_frame(8, struct.pack(">H", 1000)))
    op, p = c.message(1)
    print(f"close={op}:{struct.unpack('>H', p[:2])[0]}")
    c.pump(lambda: 1 in c.ended or 1 in c.resets)
    print("ok")


def noread(port):
    c = Client(port)
    c.connect(1)
    print(f"status={c.responses[1][':status']}")
    # Never read: the windows stay closed once full, the server's sends must wait.
    time.sleep(3)
    print("ok")


if __name__ == "__main__":
    modes = {"echo": echo, "badversion": badversion, "disabled": disabled, "reset": reset}
    modes["noread"] = noread
    modes["limit"] = limit
    modes["tls"] = tls
    modes[sys.argv[1]](
        int(sys.argv[2])
    )
