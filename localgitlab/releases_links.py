"""Release links (lib/api/release/links.rb) and the Releases::Link model's validations, which POST release
shares: url and name required and unique per release, url schemes http/https/ftp, the filepath rule.

    GET|POST        /api/v4/projects/:id/releases/:tag_name/assets/links
    GET|PUT|DELETE  /api/v4/projects/:id/releases/:tag_name/assets/links/:link_id
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from .auth import JOB_TOKEN_API, release_project
from .context import PROJECT, Call, Route
from .releases_store import Link, Release
from .releases_view import link_json, paginate, request_params
from .responses import ApiError, forbidden, json_response, record_not_found
from .validation import Checks

LINK_TYPES = ("other", "runbook", "image", "package")
URL_SCHEMES = ("http", "https", "ftp")
FILEPATH = re.compile(r"/[^/](?!.*//.*)[\-.\w/]+[\da-zA-Z]+", re.ASCII)
FILEPATH_MAX = 128
RELEASE = rf"{PROJECT}/releases/(?P<tag_name>[^/]+)/assets/links"


def link_fields(params: dict) -> dict:
    """Releases::Links::Params: `direct_asset_path` wins over the deprecated `filepath`, stored as filepath."""
    fields = {key: params[key] for key in ("name", "url", "link_type") if params.get(key) is not None}
    path = params.get("direct_asset_path") or params.get("filepath")
    if path is not None:
        fields["filepath"] = path
    return fields


def link_errors(link: dict, others: list) -> list[str]:
    """Rails' full messages for one link, in the model's order; `others` are the release's other links."""
    errors: list[str] = []
    url, name, filepath = link.get("url") or "", link.get("name") or "", link.get("filepath") or ""
    if not url.strip():
        errors.append("Url can't be blank")
    else:
        try:
            parts = urlsplit(url.strip())
            scheme, host = parts.scheme.lower(), parts.hostname
        except ValueError:
            scheme = host = None
        if not scheme:
            errors.append("Url must be a valid URL")
        elif scheme not in URL_SCHEMES:  # the scheme is checked before anything else of a parsable URL
            errors.append("Url is blocked: Only allowed schemes are http, https, ftp")
        elif not host:
            errors.append("Url is blocked: URI is invalid")
        if any(_value(other, "url") == url for other in others):
            errors.append("Url has already been taken")
    if not name.strip():
        errors.append("Name can't be blank")
    elif any(_value(other, "name") == name for other in others):
        errors.append("Name has already been taken")
    if filepath:
        if any(_value(other, "filepath") == filepath for other in others):
            errors.append("Filepath has already been taken")
        if len(filepath) > FILEPATH_MAX:
            errors.append(f"Filepath is too long (maximum is {FILEPATH_MAX} characters)")
        elif not FILEPATH.fullmatch(filepath):
            errors.append("Filepath is in an invalid format")
    return errors


def _value(link: Link | dict, key: str):
    return link.get(key) if isinstance(link, dict) else getattr(link, key)


def _release(call: Call, *, write: bool):
    """after_validation's :read_release on the project, the release (404 Not found), and for writes the
    services' :update_release check (403)."""
    registry, identity = call.registry, call.identity
    project = release_project(registry.directory, identity, call.params["id"])
    release = registry.releases.release(project.id, call.params["tag_name"])
    if release is None:
        raise record_not_found()
    if write and (identity is None or not identity.has_role(project, "developer")):
        raise forbidden()
    return project, release


def _link(call: Call, release: Release) -> Link:
    link_id = call.params["link_id"]
    found = next((link for link in release.links if str(link.id) == link_id), None)
    if found is None:
        raise record_not_found()
    return found


def _checked_params(call: Call, *, create: bool) -> dict:
    params, checks = request_params(call), Checks()
    if create:
        checks.required("name", params.get("name"))
        checks.required("url", params.get("url"))
    elif params.get("name") is None and params.get("url") is None:
        checks.errors.append("name, url are missing, at least one parameter must be provided")
    params.setdefault("link_type", "other")  # the Grape default applies on PUT too
    checks.values("link_type", params["link_type"], LINK_TYPES)
    checks.done()
    return link_fields(params)


def _saved(call: Call, project, release: Release, fields: dict, link: Link | None) -> Response:
    merged = {**({"name": link.name, "url": link.url, "filepath": link.filepath} if link else {}), **fields}
    others = [other for other in release.links if link is None or other.id != link.id]
    errors = link_errors(merged, others)
    if errors:
        raise ApiError(400, {"message": errors})
    store = call.registry.releases
    saved = store.update_link(release, link, fields) if link else store.add_link(release, fields)
    fresh = store.release(project.id, release.tag)
    return json_response(200 if link else 201, link_json(call, project, fresh, saved))


def list_links(call: Call) -> Response:
    project, release = _release(call, write=False)
    page, headers = paginate(call, list(release.links))
    return json_response(200, [link_json(call, project, release, link) for link in page], headers)


def create_link(call: Call) -> Response:
    fields = _checked_params(call, create=True)
    project, release = _release(call, write=True)
    return _saved(call, project, release, fields, None)


def get_link(call: Call) -> Response:
    project, release = _release(call, write=False)
    return json_response(200, link_json(call, project, release, _link(call, release)))


def update_link(call: Call) -> Response:
    fields = _checked_params(call, create=False)
    project, release = _release(call, write=True)
    return _saved(call, project, release, fields, _link(call, release))


def delete_link(call: Call) -> Response:
    project, release = _release(call, write=True)
    link = _link(call, release)
    call.registry.releases.delete_link(release, link)
    return json_response(200, link_json(call, project, release, link))


ROUTES = [
    Route.of("GET HEAD", rf"{RELEASE}/?", list_links, JOB_TOKEN_API),
    Route.of("POST", rf"{RELEASE}/?", create_link, JOB_TOKEN_API),
    Route.of("GET HEAD", rf"{RELEASE}/(?P<link_id>\d+)/?", get_link, JOB_TOKEN_API),
    Route.of("PUT", rf"{RELEASE}/(?P<link_id>\d+)/?", update_link, JOB_TOKEN_API),
    Route.of("DELETE", rf"{RELEASE}/(?P<link_id>\d+)/?", delete_link, JOB_TOKEN_API),
]
