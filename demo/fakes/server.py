"""A tiny threaded HTTP server for stateful fakes, served on loopback so tests run the real HTTP stack.

Subclasses register routes with ``@route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)")``; a handler
takes a ``FakeRequest`` and returns ``(status, body)`` or ``(status, body, headers)``. A dict/list body
is sent as JSON. Every request is recorded in ``self.requests`` (method, raw path, headers, body) so tests
can count API calls. ``fail_next()`` injects the next answer (a status with headers/body) for one route.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class FakeRequest:
    method: str
    raw_path: str  # path?query exactly as on the wire
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


def read_chunked(stream) -> bytes:
    """The body of a request sent with ``Transfer-Encoding: chunked`` (RFC 9112 §7.1): hex size lines, each
    chunk followed by CRLF, a zero-size chunk, optional trailers, a blank line."""
    parts: list[bytes] = []
    while True:
        size_line = stream.readline(65537)
        if not size_line:
            break  # the client went away mid-body: keep what arrived
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            break
        parts.append(stream.read(size))
        stream.readline(65537)  # the CRLF after the chunk
    return b"".join(parts)


def route(method: str, pattern: str):
    def decorate(func):
        func._fake_route = (method.upper(), re.compile(f"^{pattern}$"))
        return func

    return decorate


class FakeServer:
    name = "fake"

    def __init__(self) -> None:
        self.requests: list[FakeRequest] = []
        self.received: list[FakeRequest] = []  # every request as it arrives, before its latency (if any)
        self._injected: list[tuple[str | None, tuple]] = []
        self._latency: list[tuple[str | None, float]] = []
        self._lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr)
            spec = getattr(func, "_fake_route", None)
            if spec:
                self._routes.append((spec[0], spec[1], getattr(self, attr)))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle --------------------------------------------------------------------------------------
    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                return

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
                # body until the client's delayed ACK (40 ms a response), which no real service shows.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _handle(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = read_chunked(self.rfile)  # a streamed upload (requests sends a generator so)
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.dispatch(self.command, self.path, dict(self.headers), body)
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json; charset=utf-8")
                elif isinstance(payload, str):
                    data = payload.encode()
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                else:
                    data = payload or b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server, "fake server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # behaviour --------------------------------------------------------------------------------------
    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, *, path: str | None = None
    ):
        """The next request (matching ``path`` regex if given) gets this answer instead."""
        with self._lock:
            self._injected.append((path, (status, body if body is not None else b"", dict(headers or {}))))

    def add_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Answer requests (matching ``path`` regex if given) ``seconds`` later, as a slow network or a slow
        service would: requests of several callers are then truly in flight at once."""
        with self._lock:
            self._latency.append((path, seconds))

    def before(self, request: FakeRequest) -> tuple | None:
        """Hook run before every route (authentication checks). Return an answer to short-circuit."""
        return None

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        parts = urlsplit(raw_path)
        request = FakeRequest(
            method=method,
            raw_path=raw_path,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )
        with self._lock:
            self.received.append(request)  # as it arrives, before any latency (``requests``: once answered)
            delay = sum(sec for pattern, sec in self._latency if pattern is None or re.search(pattern, parts.path))
        if delay:
            time.sleep(delay)  # outside the lock: other requests proceed meanwhile
        with self._lock:
            self.requests.append(request)
            for i, (pattern, answer) in enumerate(self._injected):
                if pattern is None or re.search(pattern, parts.path):
                    del self._injected[i]
                    return answer[0], answer[1], dict(answer[2])
        early = self.before(request)
        if early is not None:
            return self._normalise(early)
        for route_method, pattern, handler in self._routes:
            match = pattern.match(parts.path)
            if match and route_method == method:
                request.params = {k: unquote(v) for k, v in match.groupdict().items()}
                with self._lock:
                    return self._normalise(handler(request))
        return self._normalise(self.not_found(request))

    def not_found(self, request: FakeRequest):
        return 404, {"error": "not found", "path": request.path}

    @staticmethod
    def _normalise(answer) -> tuple[int, Any, dict[str, str]]:
        if len(answer) == 2:
            return answer[0], answer[1], {}
        return answer[0], answer[1], dict(answer[2])

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[FakeRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path_regex is None or re.search(path_regex, r.path))
        ]
