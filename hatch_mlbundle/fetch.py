"""Weights by reference: one blob (URL + sha256 + size) fetched into a content-addressed cache.

Standard library only, on purpose: the build hook runs in isolated environments where only hatchling is
installed, and this same file (with files.py and blobs.py, the cache) is shipped into wheels built with `bundle = "reference"`, so
the runtime fetches with the same checks. Streamed with the body capped at the expected size and a deadline,
resumed with HTTP Range after a cut, hashed while written, moved in atomically under its sha256: a file in
the cache is always whole and right, so a warm cache needs no network at all.
"""
from __future__ import annotations

import contextlib
import os
import time
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator, Mapping
from urllib.parse import urlsplit

from .blobs import blob_path, cached, locked
from .files import CHUNK, digest_chunks, move_atomic

ATTEMPTS = 4
TIMEOUT = 30.0  # seconds without a byte before a read gives up (then it is retried, resuming)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RETRIED = {408, 425, 429, 500, 502, 503, 504}


class FetchError(Exception):
    """One line: what, from where, why, and what to do."""


def fetch(url: str, sha256: str, size: int, *, headers: Mapping[str, str] | None = None, root: Path | None = None,
          attempts: int = ATTEMPTS, timeout: float = TIMEOUT, deadline: float | None = None,
          say: Callable[[str], None] = lambda line: None) -> Path:
    """The blob's path in the cache, fetched first unless it is there; FetchError when it cannot be had whole."""
    found = cached(sha256, size, root)
    if found:
        return found
    _check_url(url)
    target = blob_path(sha256, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{sha256}.partial")
    ends = time.monotonic() + (deadline if deadline is not None else 120 + size / (4 << 20))
    with locked(target.with_name(f"{sha256}.lock")):
        if cached(sha256, size, root):  # another process fetched it while we waited
            return target
        problem = ""
        for attempt in range(1, attempts + 1):
            if time.monotonic() > ends:
                problem = f"{problem}; deadline passed" if problem else "deadline passed"
                break
            try:
                digest = _download(url, partial, size, headers or {}, timeout, ends)
            except _Retry as exc:
                problem = str(exc)
                _retrying(say, url, problem, attempt, attempts)
                continue
            if digest == sha256:
                partial.chmod(0o444)  # a hard link into a project must not let anyone edit the cache in place
                move_atomic(partial, target)
                return target
            partial.unlink(missing_ok=True)  # wrong bytes: never kept, never resumed from
            problem = f"served bytes with sha256 {digest[:12]}..., not the pinned {sha256[:12]}..."
            _retrying(say, url, problem, attempt, attempts)
        raise FetchError(f"cannot fetch {url}: {problem}; nothing was kept (cache {target.parent})")


class _Retry(Exception):
    pass


def _retrying(say: Callable[[str], None], url: str, problem: str, attempt: int, attempts: int) -> None:
    if attempt < attempts:
        say(f"mlbundle: fetching {_name(url)}: {problem}; retrying ({attempt}/{attempts - 1})")
        time.sleep(min(0.2 * 2 ** attempt, 2.0))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise FetchError(f"weights URL {url!r} must be https:// (plain http only to 127.0.0.1/localhost)")


def _name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or url


def _download(url: str, partial: Path, size: int, headers: Mapping[str, str], timeout: float, ends: float) -> str:
    """Bring `partial` to `size` bytes (resuming what is there) and return the sha256 of the whole file."""
    import http.client  # here, not at the top: a warm cache (every no-op build) never pays for them
    import urllib.error
    import urllib.request

    have = partial.stat().st_size if partial.exists() else 0
    if have > size:
        partial.unlink()
        have = 0
    if have == size:
        return _hash(partial, iter(()))
    request = urllib.request.Request(url)
    for name, value in headers.items():  # unredirected: a redirect to object storage does not carry the token
        request.add_unredirected_header(name, value)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:  # the range is past what the server has: start over
            partial.unlink(missing_ok=True)
            raise _Retry("the server refused to resume (416)") from None
        if exc.code in RETRIED:
            raise _Retry(f"HTTP {exc.code}") from None
        advice = {404: "it is not there: check the URL, or publish the weights",
                  401: "set GITLAB_TOKEN, GITLAB_DEPLOY_TOKEN (+GITLAB_DEPLOY_USER) or CI_JOB_TOKEN",
                  403: "the token may not read this project's packages"}.get(exc.code, "")
        raise FetchError(f"cannot fetch {url}: HTTP {exc.code}" + (f"; {advice}" if advice else "")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    with contextlib.closing(response):
        if have and response.status != 206 or _range_start(response) not in (have, None):
            partial.unlink(missing_ok=True)  # the server sent the whole file (or another range): start over
            have = 0
        with open(partial, "ab" if have else "wb") as out:
            written = _hash(partial, _stream(response, out, size - have, ends), have)
    if os.path.getsize(partial) < size:
        raise _Retry(f"the body ended after {os.path.getsize(partial)} of {size} bytes")
    return written


def _hash(partial: Path, new_chunks: Iterator[bytes], prefix: int = -1) -> str:
    """sha256 of what is already in `partial` (its first `prefix` bytes, all when -1) then of the new chunks."""
    def existing() -> Iterator[bytes]:
        with open(partial, "rb") as stream:
            left = os.path.getsize(partial) if prefix < 0 else prefix
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
    return digest_chunks(chain(existing(), new_chunks))["sha256"]


def _stream(response, out, cap: int, ends: float) -> Iterator[bytes]:
    """The body's chunks, each written before it is hashed; never past `cap` bytes nor the deadline."""
    import http.client

    while cap > 0:
        if time.monotonic() > ends:
            raise _Retry("deadline passed")
        try:
            chunk = response.read1(min(CHUNK, cap))  # what has arrived: a reset loses none of it
        except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
            out.flush()
            raise _Retry(f"{type(exc).__name__} mid-body") from None
        if not chunk:
            return
        out.write(chunk)
        cap -= len(chunk)
        yield chunk
    out.flush()


def _range_start(response) -> int | None:
    """The first byte of a 206's Content-Range (`bytes 100-199/200`), None for a 200."""
    if response.status != 206:
        return None
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1
