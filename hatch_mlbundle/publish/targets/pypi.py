"""The project's PyPI registry: the wheel and the sdist, each with the upload form twine would send.

A file name under a version is immutable there (as on pypi.org), so other content under a published name is
always a conflict.  The index's ``#sha256=`` is only the digest the uploader sent (GitLab records the client's),
so what the registry holds is the file the index links to, downloaded and hashed: for the check (index read once
per run) and afresh after each upload.  That is what pip will be served.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...files import file_digests
from ...gitlab import GitLabClient, form_fields
from ..artifacts import Artifact
from .base import Download, Item, Target

if TYPE_CHECKING:
    from ..context import RunContext


class PyPI(Target):
    order = 10  # first: the files pip installs

    def __init__(self, name: str, context: RunContext):
        super().__init__(name, context)
        self._indexes: dict[str, dict[str, str]] = {}  # distribution -> {file name: link}, as first read

    def _client(self) -> GitLabClient:
        return self.context.gitlab()

    def items(self, artifacts: list[Artifact], workdir: Path) -> list[Item]:
        client = self._client()  # first: without a usable GitLab there is no point hashing
        return [self._item(artifact, client) for artifact in artifacts]

    def _item(self, artifact: Artifact, client: GitLabClient) -> Item:
        digests = file_digests(artifact.path, ("sha256", "md5"))
        form = {":action": "file_upload", "protocol_version": "1", **artifact.form_metadata(),
                "sha256_digest": digests["sha256"], "md5_digest": digests["md5"]}
        return Item(self, artifact.path.name, artifact.path, artifact.name, artifact.version,
                    f"{client.project_url}/packages/pypi", artifact.path.stat().st_size, digests["sha256"],
                    data=form_fields(form), page=client.pypi_simple_url(artifact.name), download=Download(
                        f"{artifact.path.name} (PyPI)", client.pypi_file_url(digests["sha256"], artifact.path.name),
                        f"/pypi/{artifact.path.name}", raw=False))

    def remote_sha256(self, item: Item) -> str | None:
        if item.package not in self._indexes:
            self._indexes[item.package] = self._client().pypi_links(item.package)
        return self._served(item, self._indexes[item.package])

    def upload(self, item: Item) -> None:
        self._client().pypi_upload(item.path, item.data, item.package, item.sha256)

    def verify(self, item: Item) -> str:
        return self._served(item, self._client().pypi_links(item.package)) or ""

    def _served(self, item: Item, links: dict[str, str]) -> str | None:
        url = links.get(item.name)
        return None if url is None else self._client().pypi_served_sha256(url, item.name, item.size)


TARGET = PyPI
