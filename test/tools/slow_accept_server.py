#!/usr/bin/env python3
"""A local app that accepts slowly: listen backlog BACKLOG, SLEEP_MS before each
accept(), then HTTP/1.1 keep-alive answers on a thread per connection. Prints
"listening on PORT" once, then one line per request: "req PEER METHOD PATH".

usage: slow_accept_server.py PORT BACKLOG SLEEP_MS
"""
import socket
import sys
import threading
import time

lock = threading.Lock()


def say(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def serve(conn, peer):
    conn.settimeout(30)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            first = head.split(b"\r\n", 1)[0].decode("latin-1")
            say("req %s %s" % (peer[0], first))
            body = b"slow\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, backlog, sleep_ms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(backlog)
    say("listening on %d" % port)
    while True:
        time.sleep(sleep_ms / 1000.0)
        conn, peer = s.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


if __name__ == "__main__":
    main()
