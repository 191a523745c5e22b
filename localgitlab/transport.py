"""HTTP/1.1 for the local registry: werkzeug's threaded server, with keep-alive and a lazy 100 Continue.

werkzeug's own handler closes every connection after one response, because http.server cannot tell where
an unread request body ends. This handler frames the body itself (Content-Length or chunked), so after
each answer it knows whether the rest must be drained or the connection closed, and it can keep the
connection open. It also sends "100 Continue" only when the application starts reading the body: a client
that waits for it (curl does for uploads) then never sends a body the server refuses (401, too large).
"""

from __future__ import annotations

import io
import logging
import re
import socket
import struct
import threading
import time

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

log = logging.getLogger("localgitlab")

READ_CHUNK = 1 << 20
DRAIN_SECONDS = 60.0  # longest time spent discarding an unread body so the client can read the answer
IDLE_TIMEOUT = 120.0  # seconds a connection may wait for a request, or a body stall, before it is closed
_SECRET_QUERY = re.compile(r"(\b(?:private_|job_|deploy_)?token=)[^&\s]*", re.IGNORECASE)


class ResetConnection(ConnectionAbortedError):
    """Raised by the application to have the connection reset (TCP RST) instead of answered."""


def redact(text: str) -> str:
    """Tokens can sit in a query string; nothing the server logs or records may show them."""
    return _SECRET_QUERY.sub(r"\1[REDACTED]", text)


class RequestBody(io.RawIOBase):
    """The request body, framed: exactly Content-Length bytes, or the de-chunked stream up to its end."""

    def __init__(self, raw, length: int | None, send_continue):
        self._raw = raw
        self._left = length  # None: chunked, ends when the de-chunker says so
        self._send_continue = send_continue  # pending "100 Continue", sent on the first read
        self.complete = length == 0

    def readable(self) -> bool:
        return True

    @property
    def waiting_for_continue(self) -> bool:
        return self._send_continue is not None and not self.complete

    def readinto(self, buffer) -> int:
        if self.complete:
            return 0
        if self._send_continue is not None:
            self._send_continue()
            self._send_continue = None
        view = memoryview(buffer)
        if self._left is not None:
            view = view[: self._left]
        count = self._raw.readinto(view)
        if self._left is None:
            self.complete = count == 0
        else:
            if count == 0:
                raise ConnectionAbortedError("client closed the connection in the middle of the body")
            self._left -= count
            self.complete = self._left == 0
        return count

    def drain(self) -> bool:
        """Discard what the application left unread; True if the connection can carry another request."""
        if self.waiting_for_continue:
            return False  # the client never sent the body, and may or may not send it now
        buffer = bytearray(READ_CHUNK)
        deadline = time.monotonic() + DRAIN_SECONDS
        while not self.complete and time.monotonic() < deadline:
            self.readinto(buffer)
        return self.complete


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)

    def parse_request(self) -> bool:
        self._expects_continue = False
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        self._expects_continue = True  # answered by RequestBody when the application reads
        return True

    def run_wsgi(self) -> None:
        environ = self.environ = self.make_environ()  # wraps a chunked body in werkzeug's DechunkedInput
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            self.send_error(400, "Bad Content-Length")
            return
        length = None if environ.get("wsgi.input_terminated") else int(declared)
        body = RequestBody(environ["wsgi.input"], length, self._send_continue if self._expects_continue else None)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = True  # werkzeug must not wrap it again
        try:
            self._respond(environ, body)
        except OSError as error:  # the client went away, stalled or sent a broken chunk, or a reset was asked
            self.close_connection = True
            if isinstance(error, ResetConnection):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # closed for real once finish() drops the file objects: RST

    def _send_continue(self) -> None:
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _respond(self, environ: dict, body: RequestBody) -> None:
        head: list = []

        def start_response(status, headers, exc_info=None):
            head[:] = [status, headers]
            return self.wfile.write

        chunks = self.server.app(environ, start_response)
        try:
            reusable = body.drain()
            status, headers = head
            self.send_response(int(status.split(" ", 1)[0]))  # the standard reason phrase, as GitLab sends
            for name, value in headers:
                self.send_header(name, value)
            if not reusable or not any(name.lower() == "content-length" for name, _ in headers):
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                for chunk in chunks:
                    self.wfile.write(chunk)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

    def log_request(self, code="-", size="-") -> None:
        log.info("%s %s %s", self.command, redact(getattr(self, "path", "")), code)

    def log(self, type: str, message: str, *args) -> None:
        log.log(logging.ERROR if type == "error" else logging.INFO, "%s", redact(message % args))


class _Connections:
    """Open client connections, so stopping the server also ends idle keep-alive connections."""

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def close_all(self, wait: float) -> None:
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes the handler thread blocked on it
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while self._open and time.monotonic() < deadline:
            time.sleep(0.01)


class HttpServer:
    """A threaded werkzeug server on host:port (0 = any free port) that runs in a background thread."""

    def __init__(self, host: str, port: int, app) -> None:
        # Bind here rather than in werkzeug, which prints and exits the process when the port is taken.
        listener = socket.create_server((host, port))
        try:
            self._server: BaseWSGIServer = make_server(
                host, listener.getsockname()[1], app, threaded=True, request_handler=_Handler, fd=listener.fileno())
        finally:
            listener.close()  # werkzeug listens on its own duplicate of the socket
        self._server.connections = _Connections()
        self.port: int = self._server.port
        # A short poll interval: stop() waits for the serving loop to notice it.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"localgitlab:{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # returns once serve_forever has stopped accepting
            self._thread.join()
        self._server.connections.close_all(wait=5.0)
        self._server.server_close()
