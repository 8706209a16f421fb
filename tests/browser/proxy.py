"""A small HTTP proxy between the browser and the server, which can spoil one answer.

It forwards every request unchanged; a test sets :attr:`TamperingProxy.tamper` to a rule
that changes one byte of the body of answers to one path. This stands for a network
attacker or a lying server, without any hook in the production code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

# Hop-by-hop headers, and the length, which the proxy sets itself.
_DROPPED = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",
    "server",
}

Tamper = Callable[[str, bytes], bytes]  # (path without query, body) -> body


def flip_first_hash_digit(after: bytes) -> Tamper:
    """A rule changing the first hex digit that follows ``after`` (e.g. ``b'"audit_path":["'``)."""

    def tamper(path: str, body: bytes) -> bytes:
        at = body.find(after)
        if at < 0:
            return body
        i = at + len(after)
        digit = body[i : i + 1]
        return body[:i] + (b"1" if digit != b"1" else b"2") + body[i + 1 :]

    return tamper


class TamperingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.rules: dict[str, Tamper] = {}
        self.canned: dict[str, tuple[int, bytes]] = {}
        self.paths: list[str] = []  # every path the browser asked for, in order
        self.tampered = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spoil(self, path: str, rule: Tamper) -> None:
        self.rules[path] = rule

    def serve(self, path: str, status: int, body: bytes) -> None:
        """Answer ``path`` itself (an endpoint the server does not have yet)."""
        self.canned[path] = (status, body)

    def clear(self) -> None:
        self.rules.clear()
        self.canned.clear()
        self.paths.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()

    def forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        sent = {k: v for k, v in headers.items() if k.lower() not in _DROPPED | {"host"}}
        return self.upstream.request(method, target, headers=sent, content=body or None)

    def answer(self, target: str, response: httpx.Response) -> bytes:
        path = target.split("?", 1)[0]
        body = response.content
        rule = self.rules.get(path)
        if rule is not None:
            spoiled = rule(path, body)
            self.tampered += spoiled != body
            body = spoiled
        return body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.paths.append(self.path.split("?", 1)[0])
                canned = proxy.canned.get(self.path.split("?", 1)[0])
                if canned is not None:
                    self._send(canned[0], [("content-type", "application/json")], canned[1])
                    return
                response = proxy.forward(self.command, self.path, dict(self.headers), body)
                items = response.headers.multi_items()
                headers = [(n, v) for n, v in items if n.lower() not in _DROPPED]
                self._send(response.status_code, headers, proxy.answer(self.path, response))

            def _send(self, status: int, headers: list[tuple[str, str]], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _relay

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        return Handler
