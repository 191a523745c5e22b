"""Files the plugin's one way: hashed in one streamed pass, replaced atomically.

The build side hashes its inputs and the weights, the GitLab client its uploads and what the registry serves;
both use these few functions, so "the sha256 of a file" means one thing throughout the distribution.
Kept on purpose outside it: the model package's own `sha256_file` and `replace_atomically`
(mnist_model/inference.py, train.py), because the hook must not import the model nor the model the hook.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

CHUNK = 1 << 20


def digest_chunks(chunks: Iterable[bytes], algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a byte stream (md5 only where a form has the field: it is not used for security)."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
    for chunk in chunks:
        for digest in hashes.values():
            digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def file_digests(path: str | os.PathLike, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    with open(path, "rb") as stream:
        return digest_chunks(iter(lambda: stream.read(CHUNK), b""), algorithms)


def sha256_file(path: str | os.PathLike) -> str:
    """The file's sha256, read once per version of the file in this process.

    A build asks for the same weights' digest several times (the lock's check, the verification key, the
    records); weights can be gigabytes. The cache key is what any change to the file changes: its inode,
    size and ctime, which nobody can set back (mtime can be).
    """
    stat = os.stat(path)
    return _sha256_of_version(os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_ctime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of_version(path: str, inode: int, size: int, ctime_ns: int) -> str:
    return file_digests(path)["sha256"]


def _replace_via_temp(path: Path, write) -> None:
    """`write(handle)` into a temp file beside `path`, fsync, rename over it: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    _replace_via_temp(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def move_atomic(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a file into place in one rename; across file systems, copy beside the target first."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with open(source, "rb") as stream:
            _replace_via_temp(Path(target), lambda handle: shutil.copyfileobj(stream, handle, CHUNK))
        os.unlink(source)


def write_json_atomic(path: str | os.PathLike, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
