"""Injected misbehaviour, so a client's retry, timeout and "did it land?" logic can be tested for real."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from typing import Iterator

from .transport import ResetConnection

KINDS = ("status", "reset", "slow", "flip", "body")
APPLY = ("before", "after")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One misbehaviour for the next `times` requests whose method and path match.

    - kind="status": answer `status` instead of processing the request (apply="before"), or process it
      (an upload is stored) and then answer `status` anyway (apply="after": the "it may have landed" case).
    - kind="reset": reset the TCP connection once `after_bytes` of the request body have been read. If the
      body is shorter, or is never read, the reset comes instead of the answer.
    - kind="slow": wait `delay` seconds before processing, to trip client timeouts.
    - kind="flip": invert the byte at offset `after_bytes` of the request body as the handler reads it, then
      process the request as usual: a proxy that corrupts an upload in transit (GitLab stores what arrives).
    - kind="body": answer `status` with `body`, repeated up to `size` bytes (`size=0`: a body that never ends),
      `chunk` bytes at a time and `delay` seconds apart (a slow drip); instead of processing the request
      (apply="before") or after it (apply="after": an upload is stored, then the answer misbehaves).

    `method` None matches any method; `path` is a regex searched in the raw request path (no query).
    Every fault matching a request is applied to it, each using up one of its `times`.
    """

    method: str | None = None
    path: str = ".*"
    kind: str = "status"
    status: int = 500
    apply: str = "before"
    after_bytes: int = 0
    delay: float = 0.0
    times: int = 1
    body: bytes = b" "
    size: int = 0
    chunk: int = 65536

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Fault kind must be one of {KINDS}, not {self.kind!r}")
        if self.apply not in APPLY:
            raise ValueError(f"Fault apply must be one of {APPLY}, not {self.apply!r}")
        if not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"Fault times must be a whole number of at least 1, not {self.times!r}")
        if not 100 <= self.status <= 599 or self.after_bytes < 0 or self.delay < 0:
            raise ValueError("Fault status must be 100-599, after_bytes and delay at least 0")
        if not self.body or self.size < 0 or self.chunk < 1:
            raise ValueError("Fault body must not be empty, size must be at least 0 and chunk at least 1")
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and re.search(self.path, path) is not None


class FaultBook:
    """The armed faults, each with the number of uses it has left."""

    def __init__(self) -> None:
        self._armed: list[list] = []  # [fault, uses left]
        self._lock = threading.Lock()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append([fault, fault.times])

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that apply to this request, using one use of each."""
        with self._lock:
            taken = [entry for entry in self._armed if entry[0].matches(method, path)]
            for entry in taken:
                entry[1] -= 1
            self._armed = [entry for entry in self._armed if entry[1] > 0]
        return [fault for fault, _ in taken]


def body_pieces(fault: Fault, stopping: threading.Event) -> Iterator[bytes]:
    """The pieces of a kind="body" answer; ends early when the server stops."""
    sent, pattern = 0, fault.body
    while (fault.size == 0 or sent < fault.size) and not stopping.is_set():
        count = fault.chunk if fault.size == 0 else min(fault.chunk, fault.size - sent)
        start = sent % len(pattern)
        repeated = pattern[start:] + pattern * (count // len(pattern) + 1)
        yield repeated[:count]
        sent += count
        if fault.delay:
            stopping.wait(fault.delay)


class FlippingBody(io.RawIOBase):
    """The request body as a handler reads it, with the byte at offset `at` inverted."""

    def __init__(self, raw: io.RawIOBase, at: int):
        self._raw = raw
        self._at = at
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        if self._offset <= self._at < self._offset + count:
            view = memoryview(buffer)
            view[self._at - self._offset] ^= 0xFF
        self._offset += count
        return count


class ResettingBody(io.RawIOBase):
    """The request body as a handler reads it, cut by a connection reset after `after_bytes`."""

    def __init__(self, raw: io.RawIOBase, after_bytes: int):
        self._raw = raw
        self._left = after_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left == 0:
            raise ResetConnection("injected reset")
        count = self._raw.readinto(memoryview(buffer)[: self._left])
        self._left -= count
        return count
