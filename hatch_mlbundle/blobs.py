"""The content-addressed cache of weights by reference: `<root>/blobs/sha256/<digest>`, whole and read-only.

The root is `~/.cache/hatch-mlbundle` or `MLBUNDLE_CACHE` (.ci/setup uses the same variable for the root of
this plugin's caches; blobs/ is the weights'). A blob is there only once it was hashed and moved in whole
(fetch.py), so its name and size are enough to trust it: a warm cache needs no network and no hashing.
Standard library only, shipped with fetch.py into reference wheels.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Mapping

from .files import CHUNK, move_atomic

CACHE_ENV = "MLBUNDLE_CACHE"


def cache_root(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(CACHE_ENV) or Path.home() / ".cache" / "hatch-mlbundle")


def blob_path(sha256: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "blobs" / "sha256" / sha256


def cached(sha256: str, size: int, root: Path | None = None) -> Path | None:
    """The cached blob when there is one of the right size (it was hashed when it moved in), else None."""
    path = blob_path(sha256, root)
    return path if path.is_file() and path.stat().st_size == size else None


def named(blob: Path, name: str) -> Path:
    """The blob under its file name (`files/<sha256>/<name>`, a hard link, else a copy), for readers that go by
    the suffix (.onnx or .pth) or the name; made once, atomically."""
    path = blob.parents[2] / "files" / blob.name / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            os.link(blob, tmp)
        except OSError:
            with open(blob, "rb") as source, open(tmp, "wb") as copy:
                copy.writelines(iter(lambda: source.read(CHUNK), b""))
        move_atomic(tmp, path)
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One fetcher per blob at a time (two builds sharing a cache resume one partial file, not two)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the partial file name is still per blob
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
