"""The WSGI application: routes a request on its raw path, applies injected faults, records what it answered."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from . import generic, pypi, releases, releases_links
from .auth import InvalidToken
from .context import Call, Registry, Route
from .faults import Fault, body_pieces
from .responses import ApiError, bad_request, json_response, route_not_found, status_response
from .store import FileTooLarge
from .transport import ResetConnection, redact

log = logging.getLogger("localgitlab")

ROUTES: list[Route] = [*generic.ROUTES, *pypi.ROUTES, *releases.ROUTES, *releases_links.ROUTES]


class App:
    def __init__(self, registry: Registry):
        self.registry = registry

    def __call__(self, environ: dict, start_response):
        request = Request(environ)
        # Route on the path as sent: a decoded %2F would turn "group%2Fproject" into two segments.
        path = environ.get("RAW_URI", request.path).split("?", 1)[0]
        record = {"method": request.method, "path": path, "query": redact(environ.get("QUERY_STRING", "")),
                  "status": None, "auth": "anonymous", "via": None, "faults": []}
        try:
            response = self._answer(request, path, record)
            record["status"] = response.status_code
        finally:
            self.registry.requests.append(record)  # a reset is recorded too, with status None
        return response(environ, start_response)

    def _answer(self, request: Request, path: str, record: dict) -> Response:
        faults = self.registry.faults.take(request.method, path)
        record["faults"] = [fault.kind for fault in faults]
        for fault in _of_kind(faults, "slow"):
            self.registry.stopping.wait(fault.delay)  # cut short when the server stops
        for fault in _of_kind(faults, "status", "before"):
            return status_response(fault.status)
        for fault in _of_kind(faults, "body", "before"):
            return self._misbehaving_body(fault)
        resets = [fault.after_bytes for fault in _of_kind(faults, "reset")]
        flips = [fault.after_bytes for fault in _of_kind(faults, "flip")]
        response = self._dispatch(request, path, record, min(resets) if resets else None,
                                  min(flips) if flips else None)
        if resets:  # the body was shorter than after_bytes, or never read: reset instead of answering
            raise ResetConnection("injected reset")
        for fault in _of_kind(faults, "status", "after"):
            return status_response(fault.status)  # processed (an upload is stored), then failed anyway
        for fault in _of_kind(faults, "body", "after"):
            return self._misbehaving_body(fault)
        return response

    def _misbehaving_body(self, fault: Fault) -> Response:
        """A body of the fault's size and pace, with no Content-Length: it ends when the connection does."""
        mimetype = "application/json" if fault.body.startswith(b"{") else "text/html"
        return Response(body_pieces(fault, self.registry.stopping), fault.status, mimetype=mimetype,
                        direct_passthrough=True)

    def _dispatch(self, request: Request, path: str, record: dict, reset_after: int | None,
                  flip_at: int | None = None) -> Response:
        try:
            route, params = _route(request.method, path)
            try:
                identity = self.registry.tokens.identify(request, route.job_token_where)
            except InvalidToken as error:
                record["auth"] = f"invalid {error.kind}"
                raise
            if identity is not None:
                record["auth"], record["via"] = identity.label, identity.via
            return route.handler(Call(request, params, self.registry, identity, reset_after, flip_at))
        except ApiError as error:
            return error.response()
        except FileTooLarge:
            return bad_request("File is too large").response()
        except (ConnectionError, TimeoutError):
            raise  # the connection is gone (or is to be reset): nothing to answer
        except Exception:  # a bug here must not look like a registry answer the client could trust
            log.exception("localgitlab: internal error on %s %s", request.method, path)
            return json_response(500, {"message": "500 Internal Server Error"})


def _route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match and method in route.methods:
            return route, {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
    raise route_not_found()  # GitLab's catch-all route also answers a known path with the wrong method


def _of_kind(faults: list[Fault], kind: str, apply: str | None = None) -> list[Fault]:
    return [fault for fault in faults if fault.kind == kind and (apply is None or fault.apply == apply)]
