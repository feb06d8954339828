#!/usr/bin/env python3
"""An HTTP proxy in front of the test bed's API server, for the reliability tests.

It listens on plain HTTP on 127.0.0.1 (a free port, printed as the first line of stdout) and
forwards every request over TLS to the API server, streaming the answer back (watches too).
--delay S waits S seconds before forwarding each request; --fail-every N answers every N-th
request itself, without forwarding it, alternately with 500 and 503 (as an overloaded or
failing API server or load balancer does); --lose-answer-every N forwards every N-th request
(watches excepted) and answers 500 instead of the API server's answer, as when a connection
breaks after the server acted. Nothing leaves this machine.
"""
import argparse
import http.client
import http.server
import itertools
import json
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "host"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="https://HOST:PORT of the API server")
    parser.add_argument("--ca", required=True, help="the API server's CA certificate")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--lose-answer-every", type=int, default=0)
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    context = ssl.create_default_context(cafile=args.ca)
    counter = itertools.count(1)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def handle_any(self):
            with lock:
                number = next(counter)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if args.delay:
                time.sleep(args.delay)
            if args.fail_every and number % args.fail_every == 0:
                code = 500 if (number // args.fail_every) % 2 else 503
                self.answer(code)
                return
            watch = "watch=true" in urllib.parse.urlsplit(self.path).query or "watch=1" in self.path
            lose = args.lose_answer_every and number % args.lose_answer_every == 0 and not watch
            connection = http.client.HTTPSConnection(upstream.hostname, upstream.port, context=context)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                if lose:
                    response.read()
                    self.answer(500)
                    return
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    chunk = response.read1(65536)
                    if not chunk:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                connection.close()

        def answer(self, code):
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                      "reason": "InternalError" if code == 500 else "ServiceUnavailable",
                      "message": "injected by the test bed's fault proxy"}
            payload = json.dumps(status).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
