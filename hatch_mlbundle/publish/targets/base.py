"""The contract between the publish run and a place files are published to (a registry, a folder, a server).

Modelled on twine's ``Repository`` and hatch's ``PublisherInterface``: the run plans, compares, uploads and
verifies the same way whatever the target, and asks the target only what differs between targets.  So the run
never names a registry, and a new target is one class, in this package or in any importable module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..artifacts import Artifact
    from ..context import RunContext


class Target(ABC):
    """One place to publish to, for one run.  ``name`` is how it was selected (``pypi``, ``pkg.mod:Class``)."""

    order: ClassVar[int] = 100  # built-in targets publish in this order, lowest first

    def __init__(self, name: str, context: RunContext):
        self.name = name
        self.context = context

    @abstractmethod
    def items(self, artifacts: list[Artifact], workdir: Path) -> list[Item]:
        """Every file this target would send for ``artifacts``, in sending order (reads nothing remote).

        ``workdir`` is this target's own empty scratch directory, for files it makes; it lasts the run.
        """

    @abstractmethod
    def remote_sha256(self, item: Item) -> str | None:
        """The sha256 of the file the server holds under ``item``'s name now, ``None`` when it holds none."""

    @abstractmethod
    def upload(self, item: Item) -> None:
        """Send one item (raising :class:`RegistryError` with one line)."""

    def verify(self, item: Item) -> str:
        """The sha256 of what the server holds after the upload, from a request of its own.

        Never the upload's answer: a server (or a proxy) can answer "stored, sha256 X" about bytes it altered or
        never stored.  "Verified" means the server's own bytes were read back and hashed (or, where the server
        computes a checksum of what it stored, that checksum was fetched by a separate request).
        """
        return (self.remote_sha256(item) or "").lower()

    def allows_overwrite(self) -> bool:
        """Whether a file of the same name with other content may be replaced (else it is a conflict)."""
        return False

    def conflict_advice(self) -> str:
        """What to do about such a conflict, after the line that names the file."""
        return "bump the version"


@dataclass(frozen=True)
class Download:
    """Where a person fetches a published file, for links to it (a GitLab Release's assets)."""

    name: str  # the link's name, unique within a release
    url: str
    path: str  # a release's direct asset path: "/" + letters, digits and - . _ /
    raw: bool = True  # fetched as it is (curl); False: pip's business (the release notes give pip's command)


@dataclass
class Item:
    """One file for one target, and what became of it."""

    target: Target = field(repr=False, compare=False)
    name: str  # file name on the server
    path: Path  # local copy, streamed from disk
    package: str  # what the file is filed under: distribution or package name
    version: str
    url: str  # where it goes, shown in the plan
    size: int
    sha256: str
    data: Any = None  # the target's own upload data (PyPI: its form fields)
    download: Download | None = None  # how it is fetched once published, if a person can
    page: str = ""  # a page a person opens to see what was published (announcements link to it)
    action: str = "upload"  # upload | skip | conflict | overwrite
    remote_sha256: str | None = None
    result: str = ""
    detail: str = ""

    @property
    def registry(self) -> str:
        return self.target.name

    @property
    def conflict_line(self) -> str:
        return (f"{self.name} {self.version} is already published with different content; "
                f"{self.target.conflict_advice()}")
