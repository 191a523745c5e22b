"""What the Releases API reads and answers: its parameters (query plus JSON or form body, as Grape merges
them), the Release and Link entities, times in GitLab's format, and Kaminari's pagination headers."""

from __future__ import annotations

import html
import json
import zlib
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from .context import Call
from .projects import Project
from .releases_store import Link, Release
from .responses import invalid_params

SOURCE_FORMATS = ("zip", "tar.gz", "tar.bz2", "tar")
PER_PAGE_DEFAULT, PER_PAGE_MAX = 20, 100


def request_params(call: Call) -> dict:
    """Query parameters, then the body's (JSON object, or a urlencoded/multipart form) over them."""
    params: dict = dict(call.request.args.items())
    if call.request.mimetype == "application/json":
        try:
            body = json.loads(call.request.get_data() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise invalid_params(["The body is not a valid JSON object"])
        params.update(body)
    else:
        params.update(call.request.form.items())
    return params


def gitlab_time(value: str | None, name: str) -> str | None:
    """An ISO 8601 parameter in GitLab's JSON format (UTC, milliseconds, Z); no zone means UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid_params([f"{name} is invalid"]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def project_url(call: Call, project: Project) -> str:
    return f"{call.registry.external_url}/{project.path}"


def release_url(call: Call, project: Project, tag: str) -> str:
    return f"{project_url(call, project)}/-/releases/{quote(tag, safe='/')}"


def link_json(call: Call, project: Project, release: Release, link: Link) -> dict:
    """Releases::LinkPresenter: the permanent /downloads URL when a filepath is set, else the url itself."""
    direct = f"{release_url(call, project, release.tag)}/downloads/{link.filepath.lstrip('/')}" if link.filepath \
        else link.url
    return {"id": link.id, "name": link.name, "url": link.url, "direct_asset_url": direct, "link_type": link.link_type}


def release_json(call: Call, project: Project, release: Release, *, code_reader: bool, can_update: bool,
                 include_html: bool = False) -> dict:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    base, url = project_url(call, project), release_url(call, project, release.tag)
    body = {"name": release.name, "tag_name": release.tag, "description": release.description,
            "created_at": release.created_at, "released_at": release.released_at,
            "upcoming_release": release.released_at > now}
    if include_html:  # no Markdown renderer here: escaped text in one paragraph
        body["description_html"] = f'<p dir="auto">{html.escape(release.description)}</p>' if release.description else ""
    if release.author:
        body["author"] = {"id": zlib.crc32(release.author.encode()) % 10**6, "username": release.author,
                          "name": release.author, "state": "active", "locked": False, "avatar_url": None,
                          "web_url": f"{call.registry.external_url}/{release.author}"}
    sources = []
    if code_reader:
        body["commit"] = {"id": release.sha, "short_id": release.sha[:8]}
        body["commit_path"] = f"/{project.path}/-/commit/{release.sha}"
        body["tag_path"] = f"/{project.path}/-/tags/{quote(release.tag, safe='')}"
        stem = f"{project.name}-{release.tag.replace('/', '-')}"
        sources = [{"format": fmt, "url": f"{base}/-/archive/{quote(release.tag, safe='/')}/{stem}.{fmt}"}
                   for fmt in SOURCE_FORMATS]
    body["assets"] = {"count": len(release.links) + len(sources),
                      **({"sources": sources} if code_reader else {}),
                      "links": [link_json(call, project, release, link) for link in release.links]}
    if code_reader:
        body["evidences"] = []
    tag = quote(release.tag, safe="")
    related = {f"{state}_{kind}_url": f"{base}/-/{kind}?release_tag={tag}&scope=all&state={state}"
               for kind, states in (("issues", ("closed", "opened")),
                                    ("merge_requests", ("closed", "merged", "opened"))) for state in states}
    body["_links"] = {**dict(sorted(related.items())), **({"edit_url": f"{url}/edit"} if can_update else {}),
                      "self": url}
    return body


def paginate(call: Call, items: list) -> tuple[list, list[tuple[str, str]]]:
    """One page of `items` and the X-* and Link headers GitLab's offset pagination sends."""
    args = call.request.args
    try:
        page = max(1, int(args.get("page", 1)))
        per_page = min(PER_PAGE_MAX, max(1, int(args.get("per_page", PER_PAGE_DEFAULT))))
    except ValueError:
        raise invalid_params([f"{name} is invalid" for name in ("page", "per_page")
                              if not str(args.get(name, "1")).lstrip("-").isdigit()]) from None
    pages = max(1, -(-len(items) // per_page))
    base = f"{call.registry.external_url}{call.request.path}"
    query = {key: value for key, value in args.items() if key not in ("page", "per_page")}

    def page_url(number: int) -> str:
        return f"{base}?{urlencode({**query, 'page': number, 'per_page': per_page})}"

    rels = ([("prev", page - 1)] if page > 1 else []) + ([("next", page + 1)] if page < pages else [])
    links = [f'<{page_url(number)}>; rel="{rel}"' for rel, number in (*rels, ("first", 1), ("last", pages))]
    headers = [("X-Page", str(page)), ("X-Per-Page", str(per_page)), ("X-Total", str(len(items))),
               ("X-Total-Pages", str(pages)), ("X-Next-Page", str(page + 1) if page < pages else ""),
               ("X-Prev-Page", str(page - 1) if page > 1 else ""), ("Link", ", ".join(links))]
    return items[(page - 1) * per_page: page * per_page], headers
