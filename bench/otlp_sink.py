#!/usr/bin/env python3
"""The smallest OTLP/HTTP receiver: accepts every POST (traces in protobuf or
JSON), answers 200 with an empty body, and counts requests and bytes.

Prints {"event": "listening", "sink": "127.0.0.1:PORT"} once bound; GET /stats
returns {"requests": N, "bytes": M}.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {"requests": 0, "bytes": 0}
LOCK = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        size = int(self.headers.get("content-length", 0))
        self.rfile.read(size)
        with LOCK:
            COUNTS["requests"] += 1
            COUNTS["bytes"] += size
        self.answer(b"", self.headers.get("content-type", "application/x-protobuf"))

    def do_GET(self):
        with LOCK:
            body = json.dumps(COUNTS).encode()
        self.answer(body, "application/json")

    def answer(self, body, content_type):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Sink)
print(json.dumps({"event": "listening", "sink": "%s:%d" % server.server_address}), flush=True)
server.serve_forever()
