"""A fault-injecting HTTP proxy for an S3-compatible server on 127.0.0.1: requests are forwarded,
except that chosen ones get a 503 SlowDown, a 500, a reset connection, a stall (held before it is
forwarded) or a delay (forwarded at once, answered late: the store has done it when the client may
have given up). Faults are deterministic: a rule fires on the first N requests matching it (or on
every one); `share` makes a rule fire on that share of its requests instead, drawn from a seeded
generator.

    proxy = FaultProxy("http://127.0.0.1:5000")
    proxy.add(method="GET", key_contains="in/", fault="slowdown", times=3)
"""
from __future__ import annotations

import collections
import http.client
import http.server
import random
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

ERROR_BODY = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
              "</Error>")


@dataclass
class Rule:
    method: str
    key_contains: str
    fault: str  # slowdown | error500 | reset | stall | delay
    times: int  # -1: every matching request
    share: float = 1.0  # of the matching requests, the share it fires on
    seconds: float | None = None  # of a stall or delay (None: the proxy's stall_seconds)
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method) and self.key_contains in path
                and (self.times < 0 or self.fired < self.times))


class FaultProxy:
    """Forwards to `upstream`; `url` is the proxy's own address; `faults` counts what fired, by kind;
    `puts` the PUTs the store took, by path."""

    def __init__(self, upstream: str, stall_seconds: float = 5.0, seed: int = 0) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.faults: dict[str, int] = {}
        self.requests = 0
        self.stall_seconds = stall_seconds
        self.random = random.Random(seed)
        self.puts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, socket.timeout):
                    self.close_connection = True

            def do_any(self) -> None:
                proxy.forward(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, method: str = "*", key_contains: str = "", fault: str = "slowdown", times: int = 1,
            share: float = 1.0, seconds: float | None = None) -> Rule:
        rule = Rule(method, key_contains, fault, times, share, seconds)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault_for(self, method: str, path: str) -> Rule | None:
        with self.lock:
            self.requests += 1
            for rule in self.rules:
                if rule.matches(method, path) and (rule.share >= 1 or self.random.random() < rule.share):
                    rule.fired += 1
                    self.faults[rule.fault] = self.faults.get(rule.fault, 0) + 1
                    return rule
        return None

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        rule = self._fault_for(handler.command, handler.path)
        fault = rule.fault if rule else None
        seconds = self.stall_seconds if rule is None or rule.seconds is None else rule.seconds
        if fault == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            handler.connection.close()  # RST: the client sees a dropped connection
            handler.close_connection = True
            return
        if fault == "stall":
            time.sleep(seconds)
        if fault in ("slowdown", "error500"):
            code, status, message = (("SlowDown", 503, "Please reduce your request rate.") if fault == "slowdown"
                                     else ("InternalError", 500, "We encountered an internal error."))
            payload = ERROR_BODY.format(code=code, message=message).encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "keep-alive")}
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            if handler.command == "PUT" and response.status < 300:
                with self.lock:
                    self.puts[urlsplit(handler.path).path] += 1
            if fault == "delay":  # done upstream; answered late
                time.sleep(seconds)
            handler.send_response(response.status, response.reason)
            dropped = ("connection", "keep-alive", "transfer-encoding", "server", "date")
            for key, value in response.getheaders():
                if key.lower() not in dropped and (key.lower() != "content-length" or handler.command == "HEAD"):
                    handler.send_header(key, value)
            if handler.command != "HEAD":
                handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        finally:
            upstream.close()
