"""Releases::CreateService without a repository: the checks of a new release, in GitLab's order (409, then
milestones, then the tag, which is made from `ref` when missing, then the model's validations)."""

from __future__ import annotations

import re

from .context import Call
from .projects import Project
from .releases_links import LINK_TYPES, link_errors, link_fields
from .releases_store import Release
from .responses import ApiError

DESCRIPTION_MAX = 1_000_000
# Gitlab::GitRefValidator: what `git check-ref-format` refuses, and names that look like other refs.
_BAD_REF = re.compile(r"\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|//|^/|/$|\.$|\.lock$|(^|/)\.|^-|^refs/(heads|remotes)/")


def create_release(call: Call, project: Project, params: dict, released_at: str | None) -> Release:
    """The new release; `params` passed Grape's checks and the caller may create releases."""
    store, tag = call.registry.releases, str(params["tag_name"])
    if store.release(project.id, tag) is not None:
        raise ApiError(409, {"message": "Release already exists"})
    if params.get("milestones") or params.get("milestone_ids"):  # this emulator has no milestones
        named = params.get("milestones") or params.get("milestone_ids")
        names = named.split(",") if isinstance(named, str) else [str(name) for name in named]
        kind = "Milestone(s)" if params.get("milestones") else "Milestone id(s)"
        raise ApiError(400, {"message": f"{kind} not found: {', '.join(names)}"})
    sha = store.tag_sha(project.id, tag)
    if sha is None:
        sha = _create_tag(call, project, tag, params.get("ref"))
    links = [_release_link(link) for link in ((params.get("assets") or {}).get("links") or [])]
    validate(params, links)
    release = store.create(project.id, tag, sha, call.identity.name,
                           {"name": params.get("name"), "description": params.get("description"),
                            "released_at": released_at}, links)
    if release is None:  # created meanwhile by another request
        raise ApiError(409, {"message": "Release already exists"})
    return release


def _create_tag(call: Call, project, tag: str, ref) -> str:
    """Tags::CreateService, without a repository: any well-formed ref is a commit to tag."""
    if ref is None:
        raise ApiError(422, {"message": "Ref is not specified"})
    if not tag or tag == "HEAD" or _BAD_REF.search(tag):
        raise ApiError(400, {"message": "Tag name invalid"})
    ref = str(ref).strip()
    if not ref:
        raise ApiError(400, {"message": "Target is empty"})
    if _BAD_REF.search(ref):
        raise ApiError(400, {"message": f"Target {ref} is invalid"})
    return call.registry.releases.add_tag(project.id, tag, ref)


def _release_link(link) -> dict:
    fields = link_fields(link if isinstance(link, dict) else {})
    if fields.get("link_type", "other") not in LINK_TYPES:
        raise ApiError(400, {"message": f"'{fields['link_type']}' is not a valid link_type"})
    return fields


def validate(params: dict, links: list[dict]) -> None:
    """release.save!'s validations, as one "Validation failed: ..." message."""
    errors = [f"Links {error[0].lower()}{error[1:]}" for link in links
              for error in link_errors(link, [])]
    for key in ("name", "url", "filepath"):
        values = [link.get(key) for link in links if link.get(key)]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates and not errors:
            errors.append(f"Links have duplicate values ({', '.join(duplicates)})")
    if len(params.get("description") or "") > DESCRIPTION_MAX:
        errors.append(f"Description is too long (maximum is {DESCRIPTION_MAX} characters)")
    if errors:
        raise ApiError(400, {"message": f"Validation failed: {', '.join(errors)}"})
