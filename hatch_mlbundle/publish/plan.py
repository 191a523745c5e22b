"""What to publish where, and what the targets already hold.

The plan is made in full, and compared with every target, before anything is sent: a conflict stops the run
with nothing half-published, and a rerun after a failure skips exactly what already landed.  What a file is,
where it goes and how a server is read is each target's business; the decisions are made here, the same for all.
"""

from __future__ import annotations

from pathlib import Path

from .artifacts import Artifact
from .targets import Item, Target


def build_plan(targets: list[Target], artifacts: list[Artifact], workdir: Path) -> list[Item]:
    """Each target's items in turn, in the targets' order; each target keeps its own order (and scratch space),
    and sees what the targets before it planned (``context.planned``: a release links to the files)."""
    items: list[Item] = []
    for number, target in enumerate(targets):
        scratch = workdir / str(number)
        scratch.mkdir()
        target.context.planned = list(items)
        items += target.items(artifacts, scratch)
    return items


def check_remote(items: list[Item]) -> None:
    """Set each item's action from what its target holds now (reads only)."""
    for item in items:
        item.remote_sha256 = item.target.remote_sha256(item)
        if item.remote_sha256 is None:
            item.action = "upload"
        elif item.remote_sha256 == item.sha256:
            item.action = "skip"
        elif item.target.allows_overwrite():
            item.action = "overwrite"
        else:
            item.action = "conflict"
