#!/usr/bin/python3
"""gRPC client for filtered-steal tests (Debian's python3-grpcio), against
test/cluster/apps/grpc-echo. ONE channel (one HTTP/2 connection): N unary
calls in flight together cycling through x-dev metadata values ("-" = none),
then per value a server-streaming call of 50 messages, a client-streaming
and a bidirectional call, a 4 MiB answer, and a call cancelled by a 0.5 s
deadline. Bounded: 60 s per call.

usage: grpcclient.py HOST:PORT N VALUE1 [VALUE2 ...]
Prints one JSON line: {"unary": {value: {answer: count}}, "errors",
"stream": {value: [messages, answer]}, "sum", "chat", "big": {value: bytes},
"deadline": {value: status}}.
"""
import json
import sys

import grpc

OPTS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


def md(v):
    return [] if v == "-" else [("x-dev", v)]


def main():
    target, n, values = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    ch = grpc.insecure_channel(target, options=OPTS)
    res = {"unary": {v: {} for v in values}, "errors": 0, "stream": {}, "sum": {}, "chat": {},
           "big": {}, "deadline": {}}
    who = ch.unary_unary("/echo.Echo/Who")
    calls = [(values[i % len(values)], who.future(b"", metadata=md(values[i % len(values)]), timeout=60))
             for i in range(n)]
    for v, f in calls:
        try:
            a = f.result().decode()
        except grpc.RpcError as e:
            a = "error %s" % e.code()
            res["errors"] += 1
        res["unary"][v][a] = res["unary"][v].get(a, 0) + 1
    for v in values:
        msgs = list(ch.unary_stream("/echo.Echo/Count")(b"50", metadata=md(v), timeout=60))
        res["stream"][v] = [len(msgs), sorted(set(m.decode() for m in msgs))]
        res["sum"][v] = ch.stream_unary("/echo.Echo/Sum")(iter([b"a" * 1000] * 10), metadata=md(v),
                                                         timeout=60).decode()
        res["chat"][v] = [m.decode() for m in ch.stream_stream("/echo.Echo/Chat")(
            iter([b"1", b"2", b"3"]), metadata=md(v), timeout=60)]
        big = ch.unary_unary("/echo.Echo/Size")(b"%d" % (4 << 20), metadata=md(v), timeout=60)
        res["big"][v] = [len(big), big[:12].decode()]
        try:
            ch.unary_unary("/echo.Echo/Sleep")(b"", metadata=md(v), timeout=0.5)
            res["deadline"][v] = "OK"
        except grpc.RpcError as e:
            res["deadline"][v] = str(e.code())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
