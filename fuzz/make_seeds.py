#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/ (run from anywhere; idempotent).

Seeds for `proxy` are raw PROXY protocol headers (v1 text, v2 binary), most followed by the
start of a request. Seeds for `chunked` and `connection` start with the split-control prefix described in
fuzz/src/lib.rs: one byte c, then c % 8 piece sizes, then the payload.
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

WRK = b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
CURL = (b"GET /json?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\n"
        b"Accept: */*\r\n\r\n")
BROWSER = (b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0\r\n"
           b"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
           b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
           b"Connection: keep-alive\r\nCookie: a=b; c=d\r\nCache-Control: max-age=0\r\n\r\n")
HEADS = {
    "wrk_get": WRK,
    "curl_get": CURL,
    "browser_get": BROWSER,
    "head": b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    "post_cl": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "post_chunked": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "expect": b"PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "http10_keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "absolute_form": b"GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "ipv6_host": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "pipelined": WRK * 3,
    # One per rejection class.
    "rej_bad_method": b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_double_space": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_target_fragment": b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    "rej_space_before_colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "rej_nul_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "rej_bare_cr": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "rej_missing_host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "rej_two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "rej_bad_host": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "rej_cl_signed": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
    "rej_cl_list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
    "rej_cl_differ": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "rej_cl_te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "rej_te_unknown": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "rej_te_not_last": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "rej_te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "rej_version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "rej_expect": b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
    "rej_h2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "rej_tls": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "rej_long_line": b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_many_headers": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 12 + b"\r\n",
    "rej_big_header": b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 300 + b"\r\n\r\n",
    # Line terminators (issue 11): bare LF (refused by default), lone CR, controls.
    "rej_bare_lf_smuggle": b"GET /plaintext HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 5\r\n\r\n"
                           b"helloGET /json HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_bare_lf_request_line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "rej_bare_lf_last_line": b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    "rej_bare_lf_empty_value": b"GET / HTTP/1.1\r\nHost: a\r\nX:\nY: 1\r\n\r\n",
    "rej_bare_lf_leading": b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_bare_cr_request_line": b"GET / HTTP/1.1\rHost: a\r\n\r\n",
    "rej_bare_cr_target": b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_cr_at_end": b"GET\r",
    "rej_nul_target": b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
    "rej_nul_name": b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: 1\r\n\r\n",
    "rej_del_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x7f\r\n\r\n",
    "rej_obs_fold_after_lf": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\n\tb\r\n\r\n",
}

CHUNKED = {
    "simple": b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "extensions": b"4;name=value;flag\r\nWiki\r\nA ; q=\"x y\"\r\n0123456789\r\n0;last\r\n\r\n",
    "trailers": b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
    "upper_hex_zeros": b"000A\r\n0123456789\r\n00\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    "max_size": b"ffffffffffffffff\r\nab",
    "overflow": b"10000000000000000\r\n",
    "bare_lf_size": b"5\nhello\r\n0\r\n\r\n",
    "bare_lf_data": b"5\r\nhello\n0\r\n\r\n",
    "missing_crlf": b"5\r\nhelloX\r\n0\r\n\r\n",
    "space_before_crlf": b"5 \r\nhello\r\n0\r\n\r\n",
    "ctl_in_ext": b"1;a\x01\r\nx\r\n0\r\n\r\n",
    "ctl_in_trailer": b"0\r\nX: \x01\r\n\r\n",
    "bad_trailer_end": b"0\r\nX: y\n\r\n",
    "incomplete": b"5\r\nhel",
    "long_trailer": b"0\r\nX-Long: " + b"y" * 40 + b"\r\n\r\n",
    # Chunk extension grammar (RFC 9112 7.1.1) and trailer field lines (issue 11).
    "ext_empty": b"2;\r\naa\r\n0\r\n\r\n",
    "ext_empty_value": b"2;a=\r\naa\r\n0\r\n\r\n",
    "ext_bws": b"2 \t; \ta \t= \tb;c=\"q \\\" \\\\\"\r\naa\r\n0\r\n\r\n",
    "ext_unterminated_quote": b"2;a=\"b\r\naa\r\n0\r\n\r\n",
    "ext_trailing_space": b"2;a=b \r\naa\r\n0\r\n\r\n",
    "ext_bad_char": b"2;a(b)\r\naa\r\n0\r\n\r\n",
    "trailer_no_colon": b"0\r\nX\r\n\r\n",
    "trailer_space_before_colon": b"0\r\nX : y\r\n\r\n",
    "trailer_obs_fold": b"0\r\nX: y\r\n z\r\n\r\n",
    "trailer_bare_lf": b"1\r\na\r\n0\r\nX: y\n\n",
    "trailer_bare_cr": b"0\r\nX: y\rz\r\n\r\n",
    "huge_chunk": b"E8D4A51000\r\naa",
}

CONN = {
    "wrk_pipelined": WRK * 4,
    "curl": CURL,
    "keepalive_then_close": WRK + b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + WRK,
    "head_then_get": b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n" + WRK,
    "echo_cl": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + WRK,
    "echo_chunked": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n" + WRK,
    "echo_expect": b"PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "get_with_body": b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + WRK,
    "expect_unread": b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" + WRK,
    "http10": b"GET /plaintext HTTP/1.0\r\n\r\n" + WRK,
    "http10_keepalive": b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + WRK,
    "not_found_and_405": b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\nDELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n",
    "smuggle_cl_te": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad_chunk": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    "truncated_body": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello",
    "too_large": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 30000001\r\n\r\n",
    "missing_host_after_ok": WRK + b"GET / HTTP/1.1\r\n\r\n",
    "version_505": b"GET / HTTP/3.0\r\nHost: a\r\n\r\n",
    "expect_417": b"PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
    "te_501": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "partial_head": WRK + b"GET /plain",
    "bare_lf_smuggle": b"GET /plaintext HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 5\r\n\r\n"
                       b"helloGET /json HTTP/1.1\r\nHost: a\r\n\r\n",
    "chunk_over_body_limit": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"E8D4A51000\r\naa",
    "empty_chunk_ext": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2;\r\naa\r\n0\r\n\r\n" + WRK,
    "trailer_bare_lf": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"1\r\na\r\n0\r\nX: y\n\r\n" + WRK,
}


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


for name, data in HEADS.items():
    write("head", name, data)
for name, data in CHUNKED.items():
    write("chunked", name, b"\x00" + data)             # one piece
    write("chunked", name + "_split", b"\x03\x01\x02\x05" + data)  # pieces of 1, 2, 5
# High bit of the first byte: the 16-byte trailer limit; the next bit: bare LFs accepted in
# trailer lines.
write("chunked", "long_trailer_small_limit", b"\x80" + CHUNKED["long_trailer"])
write("chunked", "trailer_bare_lf_accepted", b"\x40" + CHUNKED["trailer_bare_lf"])
for name, data in CONN.items():
    write("connection", name, b"\x00" + data)
    write("connection", name + "_split", b"\x02\x01\x07" + data)   # pieces of 1, 7

def v2(ver_cmd, fam, block):
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([ver_cmd, fam]) + len(block).to_bytes(2, "big")
            + block)


INET = bytes([10, 0, 0, 1, 192, 168, 1, 2]) + (51234).to_bytes(2, "big") + (8080).to_bytes(2, "big")
INET6 = (bytes.fromhex("20010db8000000000000000000000001") + bytes.fromhex("20010db8000000000000000000000002")
         + (4711).to_bytes(2, "big") + (443).to_bytes(2, "big"))
TLVS = b"\x02\x00\x0bexample.com" + b"\x04\x00\x00" + b"\x01\x00\x02h2"
PROXY = {
    "v1_tcp4": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + WRK,
    "v1_tcp6": b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n" + WRK,
    "v1_unknown": b"PROXY UNKNOWN\r\n" + WRK,
    "v1_unknown_longest": b"PROXY UNKNOWN " + b"ffff:" * 7 + b"ffff " + b"ffff:" * 7 + b"ffff 65535 65535\r\n",
    "v1_bad_port": b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    "v1_bare_lf": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "v1_too_long": b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",
    "v1_wrong_family": b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
    "v1_nul_in_address": b"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n",
    "v1_bare_cr": b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
    "v1_unknown_controls": b"PROXY UNKNOWN \x00\x01\x7f\r\n" + WRK,
    "v2_tcp4": v2(0x21, 0x11, INET) + WRK,
    "v2_udp6_tlvs": v2(0x21, 0x22, INET6 + TLVS) + WRK,
    "v2_local": v2(0x20, 0x00, b"") + WRK,
    "v2_local_with_block": v2(0x20, 0x11, INET),
    "v2_unspec": v2(0x21, 0x00, b""),
    "v2_unix": v2(0x21, 0x31, b"/" * 216),
    "v2_bad_version": v2(0x11, 0x11, INET),
    "v2_bad_command": v2(0x22, 0x11, INET),
    "v2_bad_family": v2(0x21, 0x13, INET),
    "v2_short_block": v2(0x21, 0x21, INET),
    "v2_bad_tlv": v2(0x21, 0x11, INET + b"\x02\x00\x05a"),
    "v2_too_long": v2(0x21, 0x11, INET + b"\x04\x02\x00" + b"\x00" * 512),
    "not_proxy": WRK,
}
for name, data in PROXY.items():
    write("proxy", name, data)


# HTTP/2 (`h2`): the target puts the client preface in front of the payload itself, so seeds
# are frames only, behind the split-control prefix.
def h2_frame(kind, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


H2_SETTINGS = h2_frame(4, 0, 0, b"\x00\x04\x00\x00\x00\x64")   # initial window 100
# GET http / :authority a (static 2, 6, 4; literal with indexing of name 1).
H2_GET = b"\x82\x86\x84\x41\x01a"
H2_POST = b"\x83\x86\x84\x41\x01a\x0f\x0d\x01\x35"   # POST, content-length: 5
# CONNECT (literal, indexed name :method), http, /, :authority a, :protocol websocket and
# sec-websocket-version 13 (literals with new names).
H2_CONNECT_WS = (b"\x02\x07CONNECT\x86\x84\x41\x01a\x00\x09:protocol\x09websocket"
                 b"\x00\x15sec-websocket-version\x0213")
PYTHON_H2 = bytes.fromhex(
    "00002a04000000000000010000100000020000000100040000ffff0005000040000008000000000003000000"
    "640006000100000000240105000000018244886272d141ffcf30078741882f91d35d055c87a77a87afd2673d"
    "4b4e2f5383f963e700000e01040000000383448460a49cff87c1c05c82087f00000b00010000000368656c6c"
    "6f20776f726c64")
H2 = {
    "get": H2_SETTINGS + h2_frame(1, 5, 1, H2_GET),
    "post": H2_SETTINGS + h2_frame(1, 4, 1, H2_POST) + h2_frame(0, 0, 1, b"hel")
            + h2_frame(0, 9, 1, b"\x02lo\x00\x00"),
    "python_h2_client": PYTHON_H2,
    "trailers": H2_SETTINGS + h2_frame(1, 4, 1, H2_GET) + h2_frame(1, 5, 1, b"\x40\x01t\x011"),
    "continuation": H2_SETTINGS + h2_frame(1, 0, 1, H2_GET[:3]) + h2_frame(9, 4, 1, H2_GET[3:]),
    "window_updates": H2_SETTINGS + h2_frame(1, 5, 1, H2_GET) + h2_frame(8, 0, 0, b"\x00\x00\x10\x00")
                      + h2_frame(8, 0, 1, b"\x00\x00\x10\x00"),
    "ping_priority_goaway": H2_SETTINGS + h2_frame(6, 0, 0, b"12345678") + h2_frame(2, 0, 3, b"\x00\x00\x00\x01\x10")
                            + h2_frame(7, 0, 0, b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    "rapid_reset": H2_SETTINGS + b"".join(h2_frame(1, 4, i, H2_GET) + h2_frame(3, 0, i, b"\x00\x00\x00\x08")
                                          for i in range(1, 20, 2)),
    "too_many_streams": H2_SETTINGS + b"".join(h2_frame(1, 5, i, H2_GET) for i in range(1, 12, 2)),
    "continuation_flood": H2_SETTINGS + h2_frame(1, 0, 1, H2_GET) + h2_frame(9, 0, 1) * 10,
    "settings_flood": H2_SETTINGS * 12,
    "ping_flood": H2_SETTINGS + h2_frame(6, 0, 0, b"\x00" * 8) * 12,
    "empty_data_flood": H2_SETTINGS + h2_frame(1, 4, 1, H2_GET) + h2_frame(0, 0, 1) * 12,
    # One 40-byte field inserted, then indexed 20 times: over the small list limit.
    "hpack_bomb": H2_SETTINGS + h2_frame(1, 5, 1, H2_GET + b"\x40\x01x\x28" + b"a" * 40 + b"\xbe" * 20),
    "malformed_request": H2_SETTINGS + h2_frame(1, 5, 1, b"\x82\x84\x40\x01X\x01y"),
    "bad_content_length": H2_SETTINGS + h2_frame(1, 4, 1, H2_POST) + h2_frame(0, 1, 1, b"toolong"),
    "huffman": H2_SETTINGS + h2_frame(1, 5, 1, b"\x82\x86\x84\x41\x8c" + bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff")),
    "bad_preface_frame": h2_frame(6, 0, 0, b"\x00" * 8),
    # RFC 8441: an extended CONNECT (a WebSocket), a masked text frame in DATA, END_STREAM;
    # and `:protocol` on a GET (malformed).
    "extended_connect": H2_SETTINGS + h2_frame(1, 4, 1, H2_CONNECT_WS)
                        + h2_frame(0, 0, 1, b"\x81\x82\x37\xfa\x21\x3d\x5f\x93") + h2_frame(0, 1, 1),
    "protocol_on_get": H2_SETTINGS + h2_frame(1, 5, 1, H2_GET + b"\x00\x09:protocol\x09websocket"),
}
for name, data in H2.items():
    write("h2", name, b"\x00" + data)
    write("h2", name + "_split", b"\x03\x01\x05\x09" + data)   # pieces of 1, 5, 9


def ws_frame(op, payload=b"", fin=True, rsv1=False, mask=b"\x37\xfa\x21\x3d"):
    """A masked client WebSocket frame."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


WS_HELLO_DEFLATE = bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])
WS = {
    "text": ws_frame(1, b"Hello"),
    "fragments_ping": ws_frame(1, b"Hel", fin=False) + ws_frame(9, b"p") + ws_frame(0, b"lo"),
    "binary_126": ws_frame(2, bytes(range(126))),
    "utf8_split": ws_frame(1, "κό".encode()[:3], fin=False) + ws_frame(0, "κό".encode()[3:]),
    "utf8_bad": ws_frame(1, b"ok\xf4", fin=False) + ws_frame(0, b"\x90\x80\x80"),
    "close": ws_frame(8, b"\x03\xe8bye"),
    "close_bad_code": ws_frame(8, b"\x03\xed"),
    "deflate_hello": ws_frame(1, WS_HELLO_DEFLATE, rsv1=True),
    "deflate_fragmented": ws_frame(1, WS_HELLO_DEFLATE[:3], fin=False, rsv1=True) + ws_frame(0, WS_HELLO_DEFLATE[3:]),
    "too_big": ws_frame(2, b"x" * 250, fin=False) + ws_frame(0, b"y" * 100),
    "reserved_opcode": ws_frame(3),
    "ping_flood": ws_frame(9, b"x" * 125) * 8,
}
for name, data in WS.items():
    write("ws", name, b"\x00" + data)
    write("ws", name + "_split", b"\x03\x01\x05\x09" + data)   # pieces of 1, 5, 9
