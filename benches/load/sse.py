#!/usr/bin/env python3
"""A backend of timestamped server-sent events: the SSE scenario's upstream.

Usage: sse.py PORT   (listens on 127.0.0.1:PORT)

GET /api/events?n=N&ms=M answers `text/event-stream`, chunked (no Content-Length), with N events
M ms apart (defaults 200 and 10, capped at 10,000 events and 1 s), one chunk and one write each
(TCP_NODELAY), then the last chunk. Each event is `id: SEQ` and `data: NS`, NS being
time.monotonic_ns() just before the write: CLOCK_MONOTONIC is one clock for every process on the
machine, so a reader subtracts it from its own monotonic_ns() at receipt. Any other GET answers 200 "ok".
"""

import http.server
import sys
import time
import urllib.parse


class Events(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one event, one segment, sent at once

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        if not url.path.endswith("/events"):
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        query = urllib.parse.parse_qs(url.query)
        count = max(1, min(int(query.get("n", ["200"])[0]), 10_000))
        interval = max(0.0, min(float(query.get("ms", ["10"])[0]), 1000.0)) / 1000.0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        start = time.monotonic()
        try:
            for seq in range(count):
                time.sleep(max(0.0, start + seq * interval - time.monotonic()))
                event = f"id: {seq}\ndata: {time.monotonic_ns()}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Events).serve_forever()
