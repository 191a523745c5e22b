"""The one HTTP session: timeouts, bounded retries with backoff and jitter, progress bars, debug logging.

Why not urllib3's ``Retry``: it replays the *same* body object, which for a streamed upload is an exhausted
file, and it cannot ask "did that POST land after all?" before sending a multi-GiB file twice.  So the loop
is here, in one place, and every request of the client goes through :meth:`RegistrySession.call`.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

from .bodies import ANSWER_LIMIT, BodyTimeout, read_answer
from .errors import RETRYABLE_STATUSES, RegistryError, TransientError

log = logging.getLogger("hatch_mlbundle.gitlab")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.  Delays double from ``backoff`` up to ``backoff_max``; ``timeout`` is per socket wait."""

    retries: int = 4
    backoff: float = 1.0
    backoff_max: float = 30.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Equal jitter: half the exponential step for sure, half at random, so parallel jobs spread out."""
        step = min(self.backoff_max, self.backoff * 2 ** min(attempt - 1, 60))  # 2**60: the cap long passed
        if retry_after and retry_after.isdigit():  # a 429/503 may say how long; never wait past the cap
            step = min(self.backoff_max, max(step, float(retry_after)))
        return step / 2 + random.uniform(0, step / 2)


class _NoAuth(requests.auth.AuthBase):
    """Keeps requests from adding ``~/.netrc`` credentials next to our own token headers.

    A consumer's .netrc often holds a read-only deploy token for the same host; GitLab checks deploy tokens
    first, so the upload would run as that token and fail with a confusing 403.
    """

    def __call__(self, request):
        return request


class _LargeBlockAdapter(requests.adapters.HTTPAdapter):
    """Sends bodies in 1 MiB reads instead of urllib3's 16 KiB: a multi-GiB upload then costs a few thousand
    Python-level reads (file, multipart encoder, progress callback) instead of hundreds of thousands."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, blocksize=1 << 20, **kwargs)


class RegistrySession:
    """Wraps one ``requests.Session``; knows nothing of GitLab's URLs or of packages."""

    def __init__(self, policy: RetryPolicy = RetryPolicy(), *, progress: bool = False):
        self.policy = policy
        self.progress = progress
        self.http = requests.Session()
        self.http.auth = _NoAuth()
        for scheme in ("https://", "http://"):
            self.http.mount(scheme, _LargeBlockAdapter())
        self.http.headers["User-Agent"] = f"hatch-mlbundle {self.http.headers['User-Agent']}"
        # Bodies are read raw (bodies.Body: capped, hashed as they come), so ask for them uncompressed: a
        # gzipped index page or error would otherwise be parsed as bytes nobody decoded.
        self.http.headers["Accept-Encoding"] = "identity"

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, *, limit: int | None = ANSWER_LIMIT, **kwargs) -> requests.Response:
        """One HTTP exchange, never following redirects: a redirect must not carry our token elsewhere.

        The body is read here, at most ``limit`` bytes within a deadline (:mod:`.bodies`); with ``limit=None`` it
        is left unread for the caller to stream through a :class:`~.bodies.Body` of its own size.
        """
        started = time.monotonic()
        response = self.http.request(method, url, timeout=self.policy.timeout, allow_redirects=False, stream=True,
                                     **kwargs)
        if limit is not None:
            read_answer(response, limit, self.policy.timeout)
        log.debug("%s %s -> %s (%.2f s)", method, url, response.status_code, time.monotonic() - started)
        return response

    def call(self, what: str, attempt: Callable[[], requests.Response], *,
             landed: Callable[[], bool] | None = None, retry: bool = True) -> requests.Response | None:
        """Run ``attempt`` until it gets an answer that is not transient, or the retries run out.

        ``attempt`` must open its body afresh each time (a retried upload re-reads the file from the start).
        ``landed``, for uploads, is asked after each transient failure whether the file is in the registry
        anyway (a 500 or timeout can come *after* the server stored it); then ``None`` is returned and
        nothing is sent twice.  Any non-transient response, good or bad, is returned for the caller to judge.
        ``retry=False`` makes one attempt only: for that check itself, which must not multiply the waits.
        """
        attempts = self.policy.retries + 1 if retry else 1
        for number in range(1, attempts + 1):
            retry_after, late = None, False
            try:
                response = attempt()
            except requests.exceptions.SSLError:  # a certificate problem does not go away by retrying
                raise RegistryError(f"{what}: the server's TLS certificate is not trusted; if GitLab uses a "
                                    "private CA, point REQUESTS_CA_BUNDLE at its certificate file") from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                problem = self._describe(exc, attempt_url=getattr(exc.request, "url", "") or "")
                # No answer in time: the server may still be storing the whole body we sent.
                late = isinstance(exc, requests.ReadTimeout)
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                problem = f"{response.status_code} {response.reason}"
                retry_after = response.headers.get("Retry-After")
            if landed is not None and self._landed(landed, patience=self.policy.timeout if late else 0.0):
                log.info("%s: %s, but the registry has the file: not sending it again", what, problem)
                return None
            if number == attempts:
                advice = "; raise --timeout" if "no answer" in problem else ""
                raise TransientError(f"{what}: {problem} on all {attempts} attempts{advice}; run again later "
                                     "(files already published are skipped)")
            pause = self.policy.delay(number, retry_after)
            log.warning("%s: %s; retry %d of %d in %.1f s", what, problem, number, attempts - 1, pause)
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _landed(self, landed: Callable[[], bool], patience: float) -> bool:
        """Whether the file is there, asked again for up to ``patience`` seconds (a late server may still store it).

        A failed check means "don't know": retrying then is the lesser evil.
        """
        deadline = time.monotonic() + patience
        while True:
            try:
                if landed():
                    return True
            except Exception as exc:  # noqa: BLE001 - any failure of the check only means "unknown"
                log.debug("could not check whether the upload landed: %s", type(exc).__name__)
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            log.info("no answer in time; waiting up to %.0f s for the upload to appear before sending it again",
                     remaining)
            time.sleep(min(remaining, max(0.05, self.policy.backoff)))

    def _describe(self, exc: Exception, attempt_url: str) -> str:
        """Short words for a network failure; the exception text itself repeats the URL and urllib3 internals."""
        host = urlsplit(attempt_url).netloc or "the registry"
        text = str(exc).lower()
        if isinstance(exc, BodyTimeout):
            return f"the answer from {host} stalled ({exc})"
        if isinstance(exc, requests.ConnectTimeout):
            return f"could not connect to {host} within {self.policy.timeout:g} s"
        if isinstance(exc, requests.Timeout) or "timed out" in text:
            return f"no answer from {host} within {self.policy.timeout:g} s"
        if "refused" in text:
            return f"connection refused by {host}"
        if "reset" in text or "broken pipe" in text or "aborted" in text or "closed" in text:
            return f"connection to {host} reset"
        return f"connection to {host} failed ({type(exc).__name__})"

    def progress_bar(self, name: str, total: int) -> tqdm:
        """A bar per file on stderr, only for a human watching a terminal."""
        return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                    leave=False, dynamic_ncols=True, disable=not (self.progress and sys.stderr.isatty()))
