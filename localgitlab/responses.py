"""GitLab's response shapes: the JSON error helpers of lib/api/helpers.rb, Grape's errors, file downloads.

Clients and tests match these bodies to the byte, so each one is built in exactly one place.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from pathlib import Path
from typing import Iterable

from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

# BasicAuthHelpers sends this with every 401 of the package APIs; pip and keyring only retry with
# credentials when they see it.
WWW_AUTHENTICATE = ("WWW-Authenticate", 'Basic realm="GitLab Packages Registry"')
DOWNLOAD_CHUNK = 1 << 20


class ApiError(Exception):
    """An error answer; raised anywhere in a handler, turned into the response by the application."""

    def __init__(self, status: int, body: dict, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = list(headers)

    def response(self) -> Response:
        return json_response(self.status, self.body, self.headers)


def json_response(status: int, body: dict, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, list(headers), mimetype="application/json")


def created() -> Response:
    return json_response(201, {"message": "201 Created"})


def unauthorized() -> ApiError:
    return ApiError(401, {"message": "401 Unauthorized"}, [WWW_AUTHENTICATE])


def forbidden(reason: str | None = None) -> ApiError:
    return ApiError(403, {"message": f"403 Forbidden - {reason}" if reason else "403 Forbidden"})


def bad_request(reason: str) -> ApiError:
    return ApiError(400, {"message": f"400 Bad request - {reason}"})


def not_found(resource: str | None = None) -> ApiError:
    """`not_found!`: 404 with a capital F ("404 Package Not Found")."""
    return ApiError(404, {"message": f"404 {resource} Not Found" if resource else "404 Not Found"})


def record_not_found() -> ApiError:
    """An uncaught ActiveRecord::RecordNotFound: lowercase "found"."""
    return ApiError(404, {"message": "404 Not found"})


def route_not_found() -> ApiError:
    """No route matched (for example an unencoded slash in a project path): Grape's `error!` shape."""
    return ApiError(404, {"error": "404 Not Found"})


def invalid_params(errors: list[str]) -> ApiError:
    """Grape parameter validation: every failure of the request, joined."""
    return ApiError(400, {"error": ", ".join(errors)})


def redirect(url: str) -> Response:
    """Grape's `redirect` for a GET: 302, the URL in Location, and its plain-text sentence as the body."""
    return Response(f"This resource has been moved temporarily to {url}.", 302, [("Location", url)],
                    mimetype="text/plain")


def status_response(status: int) -> Response:
    """A bare error status, for injected faults."""
    return json_response(status, {"message": f"{status} {HTTPStatus(status).phrase}"})


def file_response(environ: dict, blob: Path, size: int, file_name: str,
                  extra_headers: Iterable[tuple[str, str]] = ()) -> Response:
    """`present_carrierwave_file!` for local storage: the bytes, streamed, as an attachment."""
    headers = [
        ("Content-Disposition", content_disposition(file_name)),
        ("Content-Transfer-Encoding", "binary"),
        ("Content-Length", str(size)),
        *extra_headers,
    ]
    stream = wrap_file(environ, open(blob, "rb"), DOWNLOAD_CHUNK)
    return Response(stream, 200, headers, mimetype="application/octet-stream", direct_passthrough=True)


def content_disposition(file_name: str) -> str:
    """Rails' ActionDispatch::Http::ContentDisposition.format(disposition: "attachment", filename: ...)."""
    ascii_name = file_name.encode("ascii", "replace").decode("ascii")
    traditional = _percent_escape(ascii_name, r"[^ A-Za-z0-9!#$+.^_`|~-]")
    rfc5987 = _percent_escape(file_name, r"[^A-Za-z0-9!#$&+.^_`|~-]")
    return f"attachment; filename=\"{traditional}\"; filename*=UTF-8''{rfc5987}"


def _percent_escape(text: str, pattern: str) -> str:
    return re.sub(pattern, lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)
