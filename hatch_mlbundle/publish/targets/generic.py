"""The project's generic registry: raw files for use without pip, under the wheel's version.

``generic-files`` (project files, or ``wheel:<member>`` taken from the built wheel so that what is published is
what was verified), ``requirements.txt`` from the wheel's own metadata, the wheel, and ``SHA256SUMS`` over all
of them, sent last: its presence means the set is complete.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ...files import sha256_file
from ...gitlab import ConfigError, GitLabClient
from ..artifacts import Artifact
from .base import Download, Item, Target

WHEEL_PREFIX = "wheel:"
SUMS_NAME = "SHA256SUMS"
# GitLab's generic file-name rule, minus "~" and "@" which only newer versions accept.
_GENERIC_NAME = re.compile(r"[A-Za-z0-9._+-]+")


class Generic(Target):
    order = 20

    def _client(self) -> GitLabClient:
        return self.context.gitlab()

    def items(self, artifacts: list[Artifact], workdir: Path) -> list[Item]:
        settings = self.context.settings
        client = self._client()  # before the checks below, as ever: a bad URL is reported first
        wheels = [a for a in artifacts if a.filetype == "bdist_wheel"]
        if len(wheels) != 1:
            raise ConfigError(f"the generic registry needs exactly one wheel in {settings.dist}, found {len(wheels)}")
        wheel = wheels[0]
        package = settings.generic_package or wheel.name
        if not _GENERIC_NAME.fullmatch(package):
            raise ConfigError(f"generic-package {package!r} may only hold letters, digits and . _ + -")
        paths = [_source(entry, settings.root, wheel.path, workdir) for entry in settings.generic_files]
        paths.append(_write(workdir / "requirements.txt", _requirements_txt(wheel)))
        paths.append(wheel.path)
        _check_names(paths)
        items = [self._item(path, package, wheel.version, client) for path in paths]
        sums = "".join(f"{item.sha256}  {item.name}\n" for item in items)  # `sha256sum -c` format
        items.append(self._item(_write(workdir / SUMS_NAME, sums), package, wheel.version, client))
        return items

    def _item(self, path: Path, package: str, version: str, client: GitLabClient) -> Item:
        url = client.generic_url(package, version, path.name)
        return Item(self, path.name, path, package, version, url, path.stat().st_size, sha256_file(path),
                    download=Download(path.name, url, f"/{path.name}"))

    def remote_sha256(self, item: Item) -> str | None:
        """GitLab's own checksum of what it stored (``X-Checksum-SHA256``), enough to compare before sending."""
        return self._client().generic_sha256(item.package, item.version, item.name, size=item.size)

    def upload(self, item: Item) -> None:
        self._client().generic_upload(item.path, item.package, item.version, item.name, item.sha256)

    def verify(self, item: Item) -> str:
        """The bytes served by a separate GET, hashed: the upload's answer is no evidence."""
        return self._client().generic_sha256(item.package, item.version, item.name, size=item.size,
                                             read_back=True) or ""

    def allows_overwrite(self) -> bool:
        return self.context.settings.allow_generic_overwrite

    def conflict_advice(self) -> str:
        return "bump the version (or pass --allow-generic-overwrite)"


def _source(entry: str, root: Path, wheel: Path, workdir: Path) -> Path:
    """``wheel:<member>`` is copied out of the wheel (to stream and re-read it on retry); else a project file."""
    if not entry.startswith(WHEEL_PREFIX):
        path = root / entry
        if not path.is_file():
            raise ConfigError(f"generic-files entry {entry!r}: {path} does not exist")
        return path
    member = entry[len(WHEEL_PREFIX):]
    with zipfile.ZipFile(wheel) as archive:
        try:
            source = archive.open(member)
        except KeyError:
            raise ConfigError(f"generic-files entry {entry!r}: {wheel.name} has no member {member}") from None
        target = workdir / "wheel" / PurePosixPath(member).name  # the basename is the uploaded name
        target.parent.mkdir(exist_ok=True)
        with source, open(target, "wb") as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
    return target


def _requirements_txt(wheel: Artifact) -> str:
    header = f"# Runtime requirements of {wheel.name} {wheel.version} (Requires-Dist of its wheel, extras left out)\n"
    return header + "".join(f"{req}\n" for req in wheel.runtime_requirements())


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _check_names(paths: list[Path]) -> None:
    seen: set[str] = set()
    for path in paths:
        if not _GENERIC_NAME.fullmatch(path.name):
            raise ConfigError(f"generic file name {path.name!r} may only hold letters, digits and . _ + -; rename it")
        if path.name in seen or path.name == SUMS_NAME:
            raise ConfigError(f"generic-files would upload two files named {path.name}; rename one")
        seen.add(path.name)


TARGET = Generic
