#!/usr/bin/env python3
"""Keep-alive client for filtered-steal tests: N GET requests on ONE
connection, cycling through header values ("-" = no header), each answer's
"build" field counted per header value. Bounded: 5 s per request, 300 s total.

usage: altclient.py HOST PORT PATH N HEADER VALUE1 [VALUE2 ...]
Prints one JSON line: {"sent", "ok", "errors", "reconnects",
"by_value": {value: {build: count}}}.
"""
import http.client
import json
import sys
import time


def main():
    host, port, path, n, header = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    values = sys.argv[6:]
    deadline = time.time() + 300
    res = {"sent": 0, "ok": 0, "errors": 0, "reconnects": 0, "by_value": {v: {} for v in values}}
    conn = http.client.HTTPConnection(host, port, timeout=5)
    for i in range(n):
        if time.time() > deadline:
            break
        v = values[i % len(values)]
        hdrs = {} if v == "-" else {header: v}
        res["sent"] += 1
        try:
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError("status %d" % r.status)
            build = json.loads(body).get("build", "?")
            res["ok"] += 1
        except Exception as e:  # counted, then a fresh connection
            build = "error: %s" % str(e)[:40]
            res["errors"] += 1
            res["reconnects"] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=5)
        res["by_value"][v][build] = res["by_value"][v].get(build, 0) + 1
    conn.close()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
