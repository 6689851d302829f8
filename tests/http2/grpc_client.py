#!/usr/bin/env python3
"""A gRPC client (Python grpcio) against a peregrine test application, for tests/http2.rs.

Usage: grpc_client.py PORT

Calls, with raw bytes as messages (no protobuf schema needed: grpcio passes bytes through when
no serializer is given):
  /test.Echo/Unary          unary: the reply is the request reversed
  /test.Echo/Count          server streaming: the request is a number N, N replies "0".."N-1"
  /test.Echo/Fail           unary answering grpc-status 5 (NOT_FOUND) with a message
  /test.Echo/Slow           unary that takes 5 s, called with a 0.5 s deadline
and prints one line per result.
"""
import sys

import grpc

port = int(sys.argv[1])
with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
    unary = channel.unary_unary("/test.Echo/Unary")
    reply, call = unary.with_call(b"hello grpc", timeout=10)
    print(f"unary={reply.decode()} code={call.code().name}")

    count = channel.unary_stream("/test.Echo/Count")
    replies = [r.decode() for r in count(b"5", timeout=10)]
    print(f"stream={','.join(replies)}")

    fail = channel.unary_unary("/test.Echo/Fail")
    try:
        fail(b"x", timeout=10)
        print("fail=ok")
    except grpc.RpcError as e:
        print(f"fail={e.code().name} details={e.details()}")

    slow = channel.unary_unary("/test.Echo/Slow")
    try:
        slow(b"x", timeout=0.5)
        print("slow=ok")
    except grpc.RpcError as e:
        print(f"slow={e.code().name}")
