"""The publish step: plan, compare with the registries, upload what is missing, verify, summarise."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from ..gitlab import Credentials, GitLabClient, RegistryError
from .artifacts import find_artifacts
from .config import Settings
from .plan import Item, build_plan, check_remote
from .report import human_size, plan_table, summary_table

log = logging.getLogger("hatch_mlbundle.publish")
DONE = ("published", "identical")


def publish(settings: Settings, credentials: Credentials, *, progress: bool) -> int:
    """Exit status: 0 when every file is published or already identical, 1 otherwise."""
    artifacts = find_artifacts(settings.dist)
    with tempfile.TemporaryDirectory(prefix="mlbundle-publish-") as workdir, \
            GitLabClient(settings.url, settings.project, credentials, policy=settings.policy,
                         progress=progress) as client:
        items = build_plan(settings, artifacts, client, Path(workdir))
        check_remote(client, items, allow_generic_overwrite=settings.allow_generic_overwrite)
        conflicts = [item for item in items if item.action == "conflict"]
        for item in conflicts:
            log.error("%s", item.conflict_line)
        if settings.dry_run:
            print(plan_table(items))
            return 1 if conflicts else 0
        if conflicts:
            for item in items:
                conflict = item.action == "conflict"
                item.result, item.detail = ("conflict", item.conflict_line) if conflict else ("not sent", "")
        else:
            upload_all(client, items)
    print(summary_table(items))
    return 0 if all(item.result in DONE for item in items) else 1


def upload_all(client: GitLabClient, items: list[Item]) -> None:
    """In order, one at a time (GitLab can answer 500 to concurrent uploads into a new package).

    The first failure stops the run: SHA256SUMS, uploaded last, must only appear once the rest is there.
    """
    for position, item in enumerate(items):
        if item.action == "skip":
            item.result, item.detail = "identical", "already in the registry"
            log.info("%s: identical file already in the %s registry, skipped", item.name, item.registry)
            continue
        log.info("%s: uploading %s to %s", item.name, human_size(item.size), item.url)
        try:
            reported = _upload(client, item)
        except RegistryError as exc:
            item.result, item.detail = "failed", str(exc)
        else:
            if reported == item.sha256:
                item.result = "published"
                item.detail = "sha256 verified" + (" (replaced)" if item.action == "overwrite" else "")
                log.info("%s: published, sha256 verified", item.name)
                continue
            item.result = "mismatch"
            item.detail = (f"{item.name}: the registry reports sha256 {reported or 'nothing'}, the local file has "
                           f"{item.sha256}: the upload was altered; delete it in GitLab and publish again")
        log.error("%s", item.detail)
        for rest in items[position + 1:]:
            rest.result = "not sent"
        return


def _upload(client: GitLabClient, item: Item) -> str:
    if item.registry == "pypi":
        return client.pypi_upload(item.path, item.fields, item.package, item.sha256)
    return client.generic_upload(item.path, item.package, item.version, item.name, item.sha256)
