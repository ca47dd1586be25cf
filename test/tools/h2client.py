#!/usr/bin/python3
"""HTTP/2 (h2c prior knowledge) client for filtered-steal tests: N GET
requests as concurrent streams on ONE connection (at most WINDOW open at a
time), cycling through x-dev values ("-" = no header); each answer's body
(the first line, e.g. "deployed" or "team-a") is counted per value. Bounded:
120 s in total. Needs Debian's python3-h2 (/usr/bin/python3).

usage: h2client.py HOST PORT PATH N VALUE1 [VALUE2 ...]
Prints one JSON line: {"sent", "ok", "errors", "max_open", "bytes",
"by_value": {value: {answer: count}}}.
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

WINDOW = 90


def main():
    host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    values = sys.argv[5:]
    deadline = time.time() + 120
    res = {"sent": 0, "ok": 0, "errors": 0, "max_open": 0, "bytes": 0, "by_value": {v: {} for v in values}}
    sock = socket.create_connection((host, port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.increment_flow_control_window(16 << 20)
    sock.sendall(conn.data_to_send())
    streams = {}  # stream id -> [value, body bytes, status]
    done = 0
    while done < n and time.time() < deadline:
        while res["sent"] < n and len(streams) < WINDOW:
            v = values[res["sent"] % len(values)]
            sid = conn.get_next_available_stream_id()
            hdrs = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", host)]
            if v != "-":
                hdrs.append(("x-dev", v))
            conn.send_headers(sid, hdrs, end_stream=True)
            streams[sid] = [v, b"", 0]
            res["sent"] += 1
        res["max_open"] = max(res["max_open"], len(streams))
        sock.sendall(conn.data_to_send())
        data = sock.recv(1 << 16)
        if not data:
            break
        for ev in conn.receive_data(data):
            s = streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                s[2] = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                s[1] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                v, body, status = streams.pop(ev.stream_id)
                done += 1
                ok = isinstance(ev, h2.events.StreamEnded) and status == 200
                answer = body.split(b"\n", 1)[0].decode(errors="replace") if ok else "error %s" % status
                res["ok" if ok else "errors"] += 1
                res["bytes"] += len(body)
                res["by_value"][v][answer] = res["by_value"][v].get(answer, 0) + 1
        sock.sendall(conn.data_to_send())
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
