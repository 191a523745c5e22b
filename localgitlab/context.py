"""The state one local GitLab instance shares between requests, and what a handler gets for one request."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Callable

from werkzeug.wrappers import Request, Response

from .auth import Identity, Tokens
from .faults import FaultBook, FlippingBody, ResettingBody
from .projects import Directory, Settings
from .releases_store import ReleaseStore
from .store import Store

API = "/api/v4"
PROJECT = rf"{API}/projects/(?P<id>[^/]+)"  # NO_SLASH_URL_PART_REGEX: "group/project" must be sent as group%2Fproject
GROUP = rf"{API}/groups/(?P<id>[^/]+)/-"


@dataclass
class Registry:
    """Everything a LocalGitLab holds: its projects, tokens, packages, releases, settings, armed faults and
    request log."""

    directory: Directory
    tokens: Tokens
    store: Store
    settings: Settings
    faults: FaultBook = field(default_factory=FaultBook)
    external_url: str = ""  # what links in the simple index start with (GitLab's configured external URL)
    requests: list[dict] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    releases: ReleaseStore | None = None  # tags, releases and links, in the store's database

    def __post_init__(self) -> None:
        if self.releases is None:
            self.releases = ReleaseStore(self.store)


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern
    handler: Callable[[Call], Response]
    job_token_where: frozenset[str]  # see auth.JOB_TOKEN_*

    @classmethod
    def of(cls, methods: str, pattern: str, handler: Callable[[Call], Response],
           job_token_where: frozenset[str]) -> Route:
        return cls(tuple(methods.split()), re.compile(pattern), handler, job_token_where)


@dataclass
class Call:
    """One request as a handler sees it: its route parameters (percent-decoded, as Grape hands them over),
    its caller, and its body."""

    request: Request
    params: dict[str, str]
    registry: Registry
    identity: Identity | None
    reset_after: int | None = None  # an injected connection reset, after this many body bytes
    flip_at: int | None = None  # an injected corruption: the body byte at this offset is inverted

    @property
    def content_length(self) -> int | None:
        return self.request.content_length

    def body(self):
        """The request body, to be read once. A handler that refuses before reading it spares a client that
        waits for "100 Continue" (curl) from sending it at all."""
        stream = self.request.environ["wsgi.input"]
        if self.flip_at is not None:
            stream = FlippingBody(stream, self.flip_at)
        return stream if self.reset_after is None else ResettingBody(stream, self.reset_after)
