#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between an SQS client and an SQS endpoint (LocalStack), for the reliability tests.

    sqs_fault_proxy.py --upstream http://127.0.0.1:4566 --stats FILE [--rate 0.2] [--seed N] [--port 0]

Prints the port it listens on (127.0.0.1 only) as the first line of stdout. For each request it draws one of:
  pass         forward and answer (most requests)
  http500      500 InternalFailure, not forwarded
  http503      503 ServiceUnavailable, not forwarded
  throttle     400 ThrottlingException (JSON `__type` and `x-amzn-query-error`), not forwarded
  drop_before  close the connection without forwarding or answering
  drop_after   forward (so SQS acts on it), then close without answering: the client must retry, which can
               duplicate a send; the test reports those
  slow         wait 1.5 s, then forward
and writes the counts per action and fault as JSON to --stats after every request.
"""
import argparse
import http.client
import http.server
import json
import random
import socket
import sys
import threading
import time
import urllib.parse

FAULTS = [("http500", 0.2), ("http503", 0.15), ("throttle", 0.25), ("drop_before", 0.15), ("drop_after", 0.1), ("slow", 0.15)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    upstream = urllib.parse.urlparse(args.upstream)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    stats: dict = {}

    def draw() -> str:
        with lock:
            if rng.random() >= args.rate:
                return "pass"
            x = rng.random()
            for name, weight in FAULTS:
                if x < weight:
                    return name
                x -= weight
            return "slow"

    def count(action: str, fault: str) -> None:
        with lock:
            stats.setdefault(action, {}).setdefault(fault, 0)
            stats[action][fault] += 1
            with open(args.stats, "w") as f:
                json.dump(stats, f)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def answer(self, status: int, body: bytes, headers: dict) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def forward(self, body: bytes):
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port or 80, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            result = (response.status, data, {k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server")})
            conn.close()
            return result

        def do_GET(self):
            status, data, headers = self.forward(b"")
            self.answer(status, data, headers)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            target = self.headers.get("X-Amz-Target", "")
            action = target.split(".")[-1] if target else "query"
            fault = draw()
            count(action, fault)
            if fault == "http500":
                return self.answer(500, b'{"__type":"InternalFailure","message":"injected fault"}', {"Content-Type": "application/x-amz-json-1.0"})
            if fault == "http503":
                return self.answer(503, b'{"__type":"ServiceUnavailable","message":"injected fault"}', {"Content-Type": "application/x-amz-json-1.0"})
            if fault == "throttle":
                return self.answer(400, b'{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}',
                                   {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "ThrottlingException;Sender"})
            if fault == "drop_before":
                return self.drop()
            if fault == "slow":
                time.sleep(1.5)
            status, data, headers = self.forward(body)
            if fault == "drop_after":
                return self.drop()
            self.answer(status, data, headers)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
