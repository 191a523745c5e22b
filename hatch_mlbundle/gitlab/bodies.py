"""Reading an answer's body within a size cap and a total deadline.

requests' ``timeout`` bounds each socket wait, not the whole read: a server that drips a byte every few seconds,
or never ends a body, keeps ``response.content`` busy forever and fills memory.  So every body the client reads
goes through :class:`Body`: at most ``limit`` bytes (the client knows how big a JSON answer, an index page or a
file it asked for can be), within ``timeout`` plus the time the limit takes at :data:`MIN_RATE`.
"""

from __future__ import annotations

import http.client
import time
from typing import Iterator

import requests
import urllib3

ANSWER_LIMIT = 64 << 10  # a JSON answer or an error text: GitLab's are well under 1 KiB
INDEX_LIMIT = 4 << 20  # a PEP 503 versions page: ~300 bytes a file, so some 13,000 files
MIN_RATE = 128 << 10  # bytes per second: a body arriving slower than this counts as stalled
_PIECE = 1 << 20


class BodyTimeout(requests.ReadTimeout):
    """The body did not arrive within its deadline (a read timeout, so the session retries it as one)."""


class Body:
    """The body of a streamed ``response`` as it arrives, cut at ``limit`` bytes (then ``truncated`` is set).

    ``read1`` returns whatever the socket has, so the deadline is checked at least once per socket wait:
    it is overrun by at most one ``timeout``.
    """

    def __init__(self, response: requests.Response, limit: int, timeout: float):
        self.response = response
        self.limit = limit
        self.started = time.monotonic()
        self.deadline = self.started + timeout + limit / MIN_RATE
        self.size = 0
        self.truncated = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self._read(min(_PIECE, self.limit + 1 - self.size))
            if time.monotonic() > self.deadline:
                self.response.close()
                raise BodyTimeout(f"{self.size} bytes in {time.monotonic() - self.started:.1f} s",
                                  request=self.response.request, response=self.response)
            if not piece:
                return
            self.size += len(piece)
            if self.size > self.limit:
                self.truncated = True
                self.size = self.limit
                yield piece[: len(piece) - 1]  # limit + 1 were asked for: one byte too many proves "more"
                self.response.close()  # the rest is never read: the connection cannot be reused
                return
            yield piece

    def _read(self, size: int) -> bytes:
        """One socket read; urllib3's own failures, raised on raw reads, as the requests errors the session
        retries (a server that stalls mid-body past the timeout, or drops the connection)."""
        try:
            return self.response.raw.read1(size)
        except urllib3.exceptions.ReadTimeoutError:
            raise BodyTimeout(f"stalled after {self.size} bytes", request=self.response.request,
                              response=self.response) from None
        except (urllib3.exceptions.ProtocolError, http.client.IncompleteRead) as exc:
            raise requests.ConnectionError(f"connection closed mid-body ({type(exc).__name__})",
                                           request=self.response.request, response=self.response) from None


def read_answer(response: requests.Response, limit: int, timeout: float) -> bool:
    """Read the body into ``response.content`` (at most ``limit`` bytes); whether it was cut."""
    body = Body(response, limit, timeout)
    response._content = b"".join(body)  # requests' own cache: .content, .text and .json() read it from here
    response._content_consumed = True
    return body.truncated
