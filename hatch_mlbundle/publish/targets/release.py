"""The project's GitLab Release for a release version: notes generated from the model card, and a link
(``link_type: package``) to every raw file and distribution published before it in this run.

One item, the release itself, so the run treats it as any file: compared first, sent only when missing or
incomplete, then read back.  Its digest covers the notes and our links as the server holds them: a rerun after a
partial failure adds what is missing, a complete release is left alone, and a person's own notes or extra links
are kept (notes that are not ours as we wrote them are theirs).  Only the publish of a tag (CI_COMMIT_TAG, --tag) makes
a Release; a dev version from the default branch is files only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from ...gitlab import ConfigError, GitLabClient
from ..artifacts import Artifact
from ..notes import render, untouched
from .base import Item, Target

log = logging.getLogger("hatch_mlbundle.publish")
# GitLab's rule for a link's filepath (app/models/releases/link.rb); a name it refuses gets no direct path
_ASSET_PATH = re.compile(r"(?=.{2,128}$)/[^/](?!.*//.*)[\-.\w/]+[\da-zA-Z]")


def _digest(description: str, links: list[dict[str, Any]]) -> str:
    view = {"description": description,
            "links": sorted((link["name"], link["url"], link.get("link_type") or "other") for link in links)}
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


def _match(link: dict[str, Any], held: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The server's link for one of ours: by name, else by URL (a person renamed it: theirs now, kept)."""
    by_name = [old for old in held if old.get("name") == link["name"]]
    return (by_name or [old for old in held if old.get("url") == link["url"]] or [None])[0]


class Release(Target):
    order = 30  # last: its links point at what the registries hold

    def _client(self) -> GitLabClient:
        return self.context.gitlab()

    def items(self, artifacts: list[Artifact], workdir: Path) -> list[Item]:
        history = self.context.history
        if not history.is_release:
            log.debug("no tag is being published (CI_COMMIT_TAG or --tag): no GitLab Release")
            return []
        client = self._client()
        tag = self.context.settings.tag
        downloads = [item.download for item in self.context.planned if item.download]
        links = [{"name": d.name, "url": d.url, "link_type": "package",
                  **({"direct_asset_path": d.path} if _ASSET_PATH.fullmatch(d.path) else {})} for d in downloads]
        notes = render(history.current, history.previous, name=history.name, tag=tag,
                       index_url=client.pypi_simple_url(history.name).rsplit("/", 1)[0],
                       files=[(d.name, d.url) for d in downloads if d.raw],
                       allowed=history.allowed)
        path = workdir / "release-notes.md"
        path.write_text(notes, encoding="utf-8")
        commit = self.context.env.get("CI_COMMIT_SHA") or (history.current.card or {}).get("git_commit")
        if not commit:  # GitLab needs it to create the tag if the tag is not pushed yet: refuse before sending
            raise ConfigError(f"release {tag}: the commit it was built from is unknown (the wheel's card has no "
                              "git_commit: built from an sdist outside CI); set CI_COMMIT_SHA to that commit")
        payload = {"tag_name": tag, "name": f"{history.name} {history.version}", "description": notes,
                   "assets": {"links": links}, "ref": commit}
        return [Item(self, f"release {tag}", path, history.name, history.version, client.release_url(tag),
                     path.stat().st_size, _digest(notes, links), data=payload)]

    def _held(self, item: Item, release: dict[str, Any] | None) -> str | None:
        """The digest of the server's release as this tool sees it: a person's notes (or a link a person renamed)
        count as ours, since they are kept."""
        if release is None:
            return None
        description = release.get("description") or ""
        if description and not untouched(description):
            description = item.data["description"]
        held = (release.get("assets") or {}).get("links") or []
        links = []
        for link in item.data["assets"]["links"]:
            found = _match(link, held)
            if found is not None:
                links.append(found if found.get("name") == link["name"] else link)
        return _digest(description, links)

    def remote_sha256(self, item: Item) -> str | None:
        return self._held(item, self._client().release(item.data["tag_name"]))

    def allows_overwrite(self) -> bool:
        return True  # "overwrite" here is completing: missing links added, our own notes brought up to date

    def upload(self, item: Item) -> None:
        client, payload = self._client(), item.data
        tag = payload["tag_name"]
        release = client.release(tag)
        if release is None:
            if client.create_release(payload) is not None:
                return
            release = client.release(tag) or {}  # 409: created meanwhile; complete it like any other
        held = (release.get("assets") or {}).get("links") or []
        for link in payload["assets"]["links"]:
            old = _match(link, held)
            if old is None:
                client.add_release_link(tag, link)
            elif old.get("name") == link["name"] and (old.get("url"), old.get("link_type")) != (link["url"],
                                                                                               link["link_type"]):
                client.update_release_link(tag, old["id"], link)
        description = release.get("description") or ""
        if (not description or untouched(description)) and description != payload["description"]:
            client.update_release(tag, {"description": payload["description"]})

    def verify(self, item: Item) -> str:
        release = self._client().release(item.data["tag_name"])
        item.page = ((release or {}).get("_links") or {}).get("self") or ""
        return self._held(item, release) or ""

    def conflict_advice(self) -> str:
        return "edit or delete the release in GitLab"


TARGET = Release
