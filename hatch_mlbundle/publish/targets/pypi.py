"""The project's PyPI registry: the wheel and the sdist, each with the upload form twine would send.

A file name under a version is immutable there (as on pypi.org), so other content under a published name is
always a conflict.  What the registry holds is read from its simple index, once per run for the check and
afresh after each upload: the index, not the upload's answer, is what pip will be served.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...files import file_digests
from ...gitlab import GitLabClient, form_fields
from ..artifacts import Artifact
from .base import Item, Target

if TYPE_CHECKING:
    from ..context import RunContext


class PyPI(Target):
    order = 10  # first: the files pip installs

    def __init__(self, name: str, context: RunContext):
        super().__init__(name, context)
        self._indexes: dict[str, dict[str, str]] = {}  # distribution -> {file name: sha256}, as first read

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
                    data=form_fields(form))

    def remote_sha256(self, item: Item) -> str | None:
        if item.package not in self._indexes:
            self._indexes[item.package] = self._client().pypi_files(item.package)
        return self._indexes[item.package].get(item.name)

    def upload(self, item: Item) -> str | None:
        self._client().pypi_upload(item.path, item.data, item.package, item.sha256)
        return None  # the answer names no sha256

    def verify(self, item: Item, answer: str | None) -> str:
        return self._client().pypi_files(item.package).get(item.name, "")


TARGET = PyPI
