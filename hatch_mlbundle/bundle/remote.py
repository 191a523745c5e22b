"""Weights by reference on the build side: files the lock pins by URL + sha256 + size (`references`) are
fetched into the content-addressed cache (../fetch.py) and linked into place before the plan looks at them.

Linked, not copied: the plan, the gates, the evaluation and an embedding wheel then read the usual path, and
a warm cache costs no network and no copy. A file already in place is left alone unless it is a link of an
older blob (the lock moved on, e.g. after `git pull`): local weights are the gates' business, not ours.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from .. import blobs, fetch
from ..fetch_auth import headers_for
from ..files import sha256_file
from .config import BundleConfig
from .errors import BundleError


def materialize(config: BundleConfig, lock: dict[str, Any], files: list[Path],
                say: Callable[[str], None] = lambda line: None) -> None:
    """Fetch (unless cached) and link each referenced file that is missing or a stale link of ours."""
    references = lock.get("references") or {}
    for path in files:
        name = Path(os.path.relpath(path, config.root)).as_posix()
        ref = references.get(name)
        if ref is None or path.is_file() and not _stale_link(path, ref["sha256"]):
            continue
        try:
            blob = blobs.cached(ref["sha256"], ref["size"]) or fetch.fetch(
                ref["url"], ref["sha256"], ref["size"], headers=headers_for(ref["url"]), say=say)
        # ValueError: a token that cannot be one (gitlab/auth.py's check), named, never shown
        except (fetch.FetchError, ValueError) as exc:
            raise BundleError(f"{name}: {exc}") from None
        _link(blob, path)


def _stale_link(path: Path, sha256: str) -> bool:
    """A file we linked from the cache (same inode as a cached blob) that is not the pinned blob."""
    blob = blobs.blob_path(sha256_file(path))
    return blob.is_file() and os.path.samefile(blob, path) and blob != blobs.blob_path(sha256)


def _link(blob: Path, path: Path) -> None:
    """Hard link (a plain file to every tool), else a symbolic link; replaced in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(blob, tmp)
    except OSError:
        os.symlink(blob, tmp)
    os.replace(tmp, path)
