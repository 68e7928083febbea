#!/usr/bin/env python3
"""A raw HTTP/2 (h2c, prior knowledge) client for the tests, on the `h2` package's frame layer.

Usage: h2raw.py HOST:PORT SCENARIO ARGS
  requests JSON    send each request of JSON in turn on one connection and print one JSON line per
                   answer: {"status": int|null, "headers": [[k, v]...], "body": str, "reset": code|null}
                   A request is {"method", "path", "headers": [[k, v]...], "data": [str...],
                   "empty_end": bool}: DATA frames as listed (a number in "data" is a pause of that
                   many seconds), then (empty_end) an empty DATA frame
                   carrying END_STREAM, as Go's client ends an upload of unknown length.
  stall N PATH     open N GET streams, then neither read the socket nor open any flow-control
                   window; print "sent" and hold the connection until killed.
  goaway           send the preface and one GET; print the server's GOAWAY error code, or "none".
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def connect(addr):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def head(method, path, extra):
    return [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)] + [
        (k, v) for k, v in extra
    ]


def one(sock, conn, req):
    sid = conn.get_next_available_stream_id()
    data = req.get("data", [])
    empty_end = req.get("empty_end", False)
    conn.send_headers(sid, head(req["method"], req["path"], req.get("headers", [])),
                      end_stream=not data and not empty_end)
    for i, chunk in enumerate(data):
        last = i == len(data) - 1 and not empty_end
        if isinstance(chunk, (int, float)):
            # A client that pauses inside its body (the slow client under test).
            sock.sendall(conn.data_to_send())
            time.sleep(chunk)
            if last:
                conn.end_stream(sid)
            continue
        conn.send_data(sid, chunk.encode(), end_stream=last)
    if empty_end:
        conn.send_data(sid, b"", end_stream=True)
    sock.sendall(conn.data_to_send())
    answer = {"status": None, "headers": [], "body": "", "reset": None}
    body = b""
    while True:
        raw = sock.recv(65536)
        if not raw:
            answer["reset"] = "connection closed"
            break
        done = False
        for ev in conn.receive_data(raw):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                answer["headers"] = [[k, v] for k, v in ev.headers]
                answer["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == sid:
                    body += ev.data
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                done = True
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                answer["reset"] = int(ev.error_code)
                done = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                answer["reset"] = "goaway %d" % int(ev.error_code)
                done = True
        sock.sendall(conn.data_to_send())
        if done:
            break
    answer["body"] = body.decode("utf-8", "replace")
    return answer


def main():
    addr, scenario = sys.argv[1], sys.argv[2]
    sock, conn = connect(addr)
    if scenario == "requests":
        for req in json.loads(sys.argv[3]):
            print(json.dumps(one(sock, conn, req)), flush=True)
    elif scenario == "stall":
        n, path = int(sys.argv[3]), sys.argv[4]
        for _ in range(n):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, head("GET", path, []), end_stream=True)
        sock.sendall(conn.data_to_send())
        print("sent", flush=True)
        sys.stdin.read()  # held until the test kills us (or closes our stdin)
    elif scenario == "goaway":
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, head("GET", "/", []), end_stream=True)
        sock.sendall(conn.data_to_send())
        code = "none"
        while not code.startswith("answered"):
            try:
                raw = sock.recv(65536)
            except ConnectionResetError:
                break
            if not raw:
                break
            for ev in conn.receive_data(raw):
                if isinstance(ev, h2.events.ConnectionTerminated):
                    code = str(int(ev.error_code))
                elif isinstance(ev, h2.events.ResponseReceived):
                    code = "answered " + dict(ev.headers)[":status"]
        print(code, flush=True)
    else:
        sys.exit("unknown scenario " + scenario)


if __name__ == "__main__":
    main()
