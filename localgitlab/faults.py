"""Injected misbehaviour, so a client's retry, timeout and "did it land?" logic can be tested for real."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass

from .transport import ResetConnection

KINDS = ("status", "reset", "slow")
APPLY = ("before", "after")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One misbehaviour for the next `times` requests whose method and path match.

    - kind="status": answer `status` instead of processing the request (apply="before"), or process it
      (an upload is stored) and then answer `status` anyway (apply="after": the "it may have landed" case).
    - kind="reset": reset the TCP connection once `after_bytes` of the request body have been read. If the
      body is shorter, or is never read, the reset comes instead of the answer.
    - kind="slow": wait `delay` seconds before processing, to trip client timeouts.

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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Fault kind must be one of {KINDS}, not {self.kind!r}")
        if self.apply not in APPLY:
            raise ValueError(f"Fault apply must be one of {APPLY}, not {self.apply!r}")
        if not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"Fault times must be a whole number of at least 1, not {self.times!r}")
        if not 100 <= self.status <= 599 or self.after_bytes < 0 or self.delay < 0:
            raise ValueError("Fault status must be 100-599, after_bytes and delay at least 0")
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
