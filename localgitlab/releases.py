"""GitLab Releases (lib/api/releases.rb, Releases::CreateService), per the team's gitlab-releases-api notes.

    GET             /api/v4/projects/:id/releases                       list, newest released first
    GET             /api/v4/projects/:id/releases/:tag_name             one (a / in the tag sent as %2F)
    GET             /api/v4/projects/:id/releases/permalink/latest[/*]  302 to the newest release
    GET             /api/v4/projects/:id/releases/:tag_name/downloads/* 302 to the link with that filepath
    POST            /api/v4/projects/:id/releases                       201; the tag is made from `ref` if missing
    PUT|DELETE      /api/v4/projects/:id/releases/:tag_name             200, 403 for a missing release
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from werkzeug.wrappers import Response

from .auth import JOB_TOKEN_API, can_read_code, release_project
from .context import API, PROJECT, Call, Route
from .releases_create import create_release, validate
from .releases_view import gitlab_time, paginate, release_json, request_params
from .responses import forbidden, json_response, not_found, record_not_found, redirect
from .validation import Checks, check_file_path

RELEASES = rf"{PROJECT}/releases"
TAG = rf"{RELEASES}/(?P<tag_name>[^/]+)"


def _can(call: Call, project, least: str) -> bool:
    return call.identity is not None and call.identity.has_role(project, least)


def _project(call: Call, *, code: bool = False):
    """`before { authorize_read_releases! }`, then `authorize_read_code!` where the route asks for it."""
    project = release_project(call.registry.directory, call.identity, call.params["id"])
    if code and not can_read_code(call.identity, project):
        raise forbidden()
    return project


def _present(call: Call, project, release, status: int = 200) -> Response:
    include_html = call.request.args.get("include_html_description") == "true"
    return json_response(status, release_json(call, project, release, code_reader=can_read_code(call.identity, project),
                                              can_update=_can(call, project, "developer"), include_html=include_html))


def list_releases(call: Call) -> Response:
    project, args, checks = _project(call), call.request.args, Checks()
    checks.values("order_by", args.get("order_by"), ("released_at", "created_at"))
    checks.values("sort", args.get("sort"), ("asc", "desc"))
    checks.done()
    before, after = gitlab_time(args.get("updated_before"), "updated_before"), gitlab_time(args.get("updated_after"), "updated_after")
    key = args.get("order_by", "released_at")
    found = [r for r in call.registry.releases.releases(project.id)
             if (before is None or r.updated_at < before) and (after is None or r.updated_at > after)]
    found.sort(key=lambda r: (getattr(r, key), r.id), reverse=args.get("sort", "desc") == "desc")
    page, headers = paginate(call, found)
    return json_response(200, [release_json(call, project, r, code_reader=can_read_code(call.identity, project),
                                            can_update=_can(call, project, "developer")) for r in page], headers)


def get_release(call: Call) -> Response:
    project = _project(call, code=True)
    release = call.registry.releases.release(project.id, call.params["tag_name"])
    if release is None:
        raise not_found()
    return _present(call, project, release)


def download(call: Call) -> Response:
    check_file_path("direct_asset_path", call.params["path"])
    project = _project(call, code=True)
    release = call.registry.releases.release(project.id, call.params["tag_name"])
    if release is None:
        raise not_found()
    link = next((link for link in release.links if link.filepath == f"/{call.params['path']}"), None)
    if link is None:
        raise record_not_found()
    return redirect(link.url)


def latest(call: Call) -> Response:
    suffix = call.params.get("suffix")
    if suffix:
        check_file_path("suffix_path", suffix)
    project = _project(call, code=True)
    releases = sorted(call.registry.releases.releases(project.id), key=lambda r: (r.released_at, r.id))
    if not releases:
        raise not_found()
    target = f"{API}/projects/{project.id}/releases/{quote(releases[-1].tag, safe='')}"
    query = [(key, value) for key, value in call.request.args.items(multi=True) if key != "order_by"]
    return redirect(target + (f"/{suffix}" if suffix else "") + (f"?{urlencode(query)}" if query else ""))


def create(call: Call) -> Response:
    project, params = _project(call), request_params(call)
    checks = Checks()
    checks.required("tag_name", params.get("tag_name"))
    assets = params.get("assets")
    links = assets.get("links") if isinstance(assets, dict) else None
    if assets is not None and (not isinstance(assets, dict) or not isinstance(links, (list, type(None)))):
        checks.errors.append("assets is invalid")
    for index, link in enumerate(links or []):
        for key in ("name", "url"):
            checks.required(f"assets[links][{index}][{key}]", link.get(key) if isinstance(link, dict) else None)
    checks.done()
    released_at = gitlab_time(params.get("released_at"), "released_at")
    if not _can(call, project, "developer"):
        raise forbidden()
    release = create_release(call, project, params, released_at)
    return _present(call, project, release, 201)


def update(call: Call) -> Response:
    project, params = _project(call), request_params(call)
    release = call.registry.releases.release(project.id, call.params["tag_name"])
    released_at = gitlab_time(params.get("released_at"), "released_at")
    if release is None or not _can(call, project, "developer"):
        raise forbidden()  # authorize! :update_release on a missing release
    validate(params, [])
    fields = {key: params[key] for key in ("name", "description") if key in params}
    release = call.registry.releases.update(release, {**fields, **({"released_at": released_at} if released_at else {})})
    return _present(call, project, release)


def delete(call: Call) -> Response:
    project = _project(call)
    release = call.registry.releases.release(project.id, call.params["tag_name"])
    if release is None or not _can(call, project, "developer"):
        raise forbidden()
    call.registry.releases.delete(release)  # the tag stays
    return _present(call, project, release)


ROUTES = [
    Route.of("GET HEAD", rf"{RELEASES}/?", list_releases, JOB_TOKEN_API),
    Route.of("POST", rf"{RELEASES}/?", create, JOB_TOKEN_API),
    Route.of("GET HEAD", rf"{TAG}/?", get_release, JOB_TOKEN_API),
    Route.of("PUT", rf"{TAG}/?", update, JOB_TOKEN_API),
    Route.of("DELETE", rf"{TAG}/?", delete, JOB_TOKEN_API),
    Route.of("GET HEAD", rf"{RELEASES}/permalink/latest(?:/(?P<suffix>.*))?", latest, JOB_TOKEN_API),
    Route.of("GET HEAD", rf"{TAG}/downloads/(?P<path>.+)", download, JOB_TOKEN_API),
]
