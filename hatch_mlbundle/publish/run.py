"""The publish step: refuse early, plan, compare with the targets, upload what is missing, verify, summarise,
announce.

The same loop for every target: it knows items, actions and results, and asks each item's target the rest.
The refusals (a tag naming another version, a release worse than the previous one) come before anything is sent.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from ..gitlab import RegistryError
from .announce import announce
from .artifacts import find_artifacts
from .context import RunContext
from .gate import check_regression, check_tag, tag_pipeline_publishes
from .history import History
from .plan import build_plan, check_remote
from .report import human_size, plan_table, summary_table
from .targets import Item, open_targets

log = logging.getLogger("hatch_mlbundle.publish")
DONE = ("published", "identical")


def publish(context: RunContext) -> int:
    """Exit status: 0 when every file is published or already identical, 1 otherwise."""
    settings = context.settings
    artifacts = find_artifacts(settings.dist)
    with tempfile.TemporaryDirectory(prefix="mlbundle-publish-") as workdir, context:
        context.history = history = History(context, artifacts)
        check_tag(settings.tag, history)
        deferred = tag_pipeline_publishes(history, context.env)
        if deferred:
            print(deferred)
            return 0
        if history.is_release:  # compared with the previous release, before anything is sent
            check_regression(history, max_accuracy_drop=settings.max_accuracy_drop,
                             max_latency_increase=settings.max_latency_increase, allow=settings.allow_regression)
        items = build_plan(open_targets(settings.registries, context), artifacts, Path(workdir))
        check_remote(items)
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
            upload_all(items)
        print(summary_table(items))
        done = all(item.result in DONE for item in items)
        if done:
            announce(context, history, items)
    return 0 if done else 1


def upload_all(items: list[Item]) -> None:
    """In order, one at a time (GitLab can answer 500 to concurrent uploads into a new package).

    The first failure stops the run: a target's last item (a checksum list, say) may mean "the set is
    complete", so it must only appear once the rest is there.
    """
    for position, item in enumerate(items):
        if item.action == "skip":
            item.result, item.detail = "identical", "already in the registry"
            log.info("%s: identical file already in the %s registry, skipped", item.name, item.registry)
            continue
        log.info("%s: uploading %s to %s", item.name, human_size(item.size), item.url)
        try:
            item.target.upload(item)
            held = item.target.verify(item)
        except RegistryError as exc:
            item.result, item.detail = "failed", str(exc)
        except OSError as exc:  # a target that writes files (a folder, a mount): a failed row, not a crash
            item.result, item.detail = "failed", f"{item.name}: {exc.strerror or exc}: {exc.filename or item.url}"
        else:
            if held == item.sha256:
                item.result = "published"
                item.detail = "sha256 verified" + (" (replaced)" if item.action == "overwrite" else "")
                log.info("%s: published, sha256 verified (read back from the registry)", item.name)
                continue
            item.result = "mismatch"
            served = f"sha256 {held}" if re.fullmatch(r"[0-9a-f]{64}", held) else held or "nothing"
            item.detail = (f"{item.name}: the registry serves {served}, the local file has sha256 {item.sha256}: "
                           "the upload was altered; delete it in GitLab and publish again")
        log.error("%s", item.detail)
        for rest in items[position + 1:]:
            rest.result = "not sent"
        return
