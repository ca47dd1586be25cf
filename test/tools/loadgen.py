#!/usr/bin/env python3
"""Bounded HTTP load for integration tests: N GET requests, some on fresh
connections and some on keep-alive ones, each with a timeout.

usage: loadgen.py HOST PORT PATH FRESH KEEPALIVE [HEADER:VALUE ...]
Prints one JSON line: {"sent": n, "ok": n, "errors": n, "bodies": {...counts}}.
"""
import http.client
import json
import sys
import time

def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fresh, keep = int(sys.argv[4]), int(sys.argv[5])
    headers = dict(h.split(":", 1) for h in sys.argv[6:])
    deadline = time.time() + 120
    res = {"sent": 0, "ok": 0, "errors": 0, "bodies": {}}

    def one(conn):
        res["sent"] += 1
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status == 200:
            res["ok"] += 1
        key = body[:60].decode("utf-8", "replace")
        res["bodies"][key] = res["bodies"].get(key, 0) + 1

    for _ in range(fresh):
        if time.time() > deadline:
            break
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            one(c)
            c.close()
        except Exception:
            res["errors"] += 1
    c = None
    for i in range(keep):
        if time.time() > deadline:
            break
        try:
            if c is None:
                c = http.client.HTTPConnection(host, port, timeout=5)
            one(c)
        except Exception:
            res["errors"] += 1
            c = None
    if len(res["bodies"]) > 20:
        res["bodies"] = {"(many)": sum(res["bodies"].values())}
    print(json.dumps(res))

if __name__ == "__main__":
    main()
