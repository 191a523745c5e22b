"""Generic package registry (lib/api/generic_packages.rb): raw-body PUT and GET of one file.

    PUT|GET /api/v4/projects/:id/packages/generic/:package_name/:package_version/[<dir>/...]:file_name
"""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote, unquote

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Response

from .auth import JOB_TOKEN_ANYWHERE, JOB_TOKEN_IN_REQUEST, authorized_project
from .context import PROJECT, Call, Route
from .projects import Settings
from .responses import bad_request, created, file_response, json_response, record_not_found, unauthorized
from .store import StoredFile
from .validation import Checks

# lib/gitlab/regex/packages.rb; Ruby's \w is ASCII.
NAME = re.compile(r"[A-Za-z0-9._+-]+")
VERSION = re.compile(r"(?!.*\.\.)[\w+.-]+", re.ASCII)
# The file-name regex with `~`, plus `@` as the newer API accepts it: inside the name, never first or last.
FILE_NAME = re.compile(r"(?![~@])[A-Za-z0-9._+~@-]+(?<![~@])")
STATUSES = ("default", "hidden")  # both can be downloaded; hidden ones are left out of lists
SELECTS = ("package_file",)
PACKAGE_TYPE = "generic"

# Grape's ':package_name/*package_version/(*path/):file_name': the version is the shortest match, so it is
# one segment and any further directories are the optional path.
PATH = rf"{PROJECT}/packages/generic/(?P<package_name>[^/]+)/(?P<package_version>[^/]+)/(?:(?P<path>.+)/)?(?P<file_name>[^/]+)"


def upload(call: Call) -> Response:
    if call.identity is None:
        raise unauthorized()  # authenticate_non_get!, before the parameters are even validated
    name, version, file_name = _package_file(call, upload=True)
    project = authorized_project(call.registry.directory, call.identity, call.params["id"],
                                 upload=True, unknown_is_404=False)
    settings, store = call.registry.settings, call.registry.store
    limit = settings.generic_max_file_size
    if (call.content_length or 0) > limit:
        raise bad_request("File is too large")
    with store.receiving() as new_upload:
        received = new_upload(limit).copy_from(call.body())
        stored = store.add_file(project_id=project.id, package_type=PACKAGE_TYPE, name=name, version=version,
                                file_name=file_name, upload=received, status=call.request.args.get("status"),
                                admit=partial(_refuse_duplicate, settings, name, version))
    if call.request.args.get("select") == "package_file":
        return json_response(200, package_file_json(stored))  # 200, not 201: GitLab's spec asserts :ok
    return created()


def download(call: Call) -> Response:
    name, version, file_name = _package_file(call, upload=False)
    project = authorized_project(call.registry.directory, call.identity, call.params["id"],
                                 upload=False, unknown_is_404=False)
    store = call.registry.store
    package = store.package(project.id, PACKAGE_TYPE, name, version)
    same_name = [f for f in package.files if f.file_name == file_name] if package and package.status in STATUSES else []
    if not same_name:
        raise record_not_found()
    newest = same_name[-1]  # PackageFileFinder#execute! takes the last of the duplicates
    download_name = unquote(newest.file_name).rsplit("/", 1)[-1]
    response = file_response(call.request.environ, store.blob_path(newest.blob), newest.size, download_name,
                             [("X-Checksum-SHA256", newest.file_sha256)])
    return _ranged(call, response, newest.size)


def _ranged(call: Call, response: Response, size: int) -> Response:
    """A `Range: bytes=...` request answered 206 with Content-Range (416 past the end), as Workhorse's
    send-file does for local storage (Go's http.ServeContent) and object storage does behind a redirect:
    assumed, since generic_packages.rb only hands the file over. Without Range: the whole file, 200."""
    try:
        return response.make_conditional(call.request.environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        response.close()
        return Response(b"", 416, [("Content-Range", f"bytes */{size}")])


def _package_file(call: Call, *, upload: bool) -> tuple[str, str, str]:
    """The validated name, version and stored file name (a directory path is folded into the file name,
    percent-encoded like Ruby's URI.encode_uri_component: dir/file.txt is stored as dir%2Ffile.txt)."""
    params, args = call.params, call.request.args
    checks = Checks()
    checks.regexp("package_name", params["package_name"], NAME)
    checks.file_path("package_name", params["package_name"])
    checks.regexp("package_version", params["package_version"], VERSION)
    checks.file_path("path", params.get("path"))
    checks.regexp("file_name", params["file_name"], FILE_NAME)
    checks.file_path("file_name", params["file_name"])
    if upload:
        checks.values("status", args.get("status"), STATUSES)
        checks.values("select", args.get("select"), SELECTS)
    checks.done()
    file_name = params["file_name"]
    if params.get("path"):
        file_name = quote(f"{params['path']}/{file_name}", safe="*").replace("~", "%7E")
    return params["package_name"], params["package_version"], file_name


def _refuse_duplicate(settings: Settings, name: str, version: str, same_name: list[StoredFile]) -> None:
    if same_name and not settings.generic_duplicate_allowed(name, version):
        raise bad_request("Duplicate package is not allowed")


def package_file_json(stored: StoredFile) -> dict:
    """The raw Packages::PackageFile record that `select=package_file` presents (no entity, so every column)."""
    return {
        "id": stored.id, "package_id": stored.package_id, "created_at": stored.created_at,
        "updated_at": stored.created_at, "size": stored.size, "file_store": 1, "file_md5": None, "file_sha1": None,
        "file_name": stored.file_name,
        "file": {"url": f"/{stored.blob[:2]}/{stored.blob[2:4]}/{stored.blob}/packages/{stored.package_id}"
                        f"/files/{stored.id}/{stored.file_name}"},
        "file_sha256": stored.file_sha256, "verification_retry_at": None, "verified_at": None,
        "verification_failure": None, "verification_retry_count": None, "verification_checksum": None,
        "verification_state": 0, "verification_started_at": None, "new_file_path": None,
    }


ROUTES = [
    # A job token is read from JOB-TOKEN / job_token on uploads, and also from Basic auth on downloads.
    Route.of("PUT", PATH, upload, JOB_TOKEN_IN_REQUEST),
    Route.of("GET HEAD", PATH, download, JOB_TOKEN_ANYWHERE),
]
