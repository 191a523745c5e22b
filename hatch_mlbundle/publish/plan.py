"""What to publish where, and what the registries already hold.

The plan is made in full, and compared with the registries, before anything is sent: a conflict stops the run
with nothing half-published, and a rerun after a failure skips exactly what already landed.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..files import file_digests
from ..gitlab import ConfigError, GitLabClient, form_fields
from .artifacts import Artifact
from .config import Settings

WHEEL_PREFIX = "wheel:"
SUMS_NAME = "SHA256SUMS"
# GitLab's generic file-name rule, minus "~" and "@" which only newer versions accept.
_GENERIC_NAME = re.compile(r"[A-Za-z0-9._+-]+")


@dataclass
class Item:
    """One file for one registry, and what became of it."""

    registry: str  # "pypi" | "generic"
    name: str  # file name in the registry
    path: Path  # local copy, streamed from disk
    package: str  # distribution name (PyPI) or generic package name
    version: str
    url: str
    size: int
    sha256: str
    fields: list[tuple[str, str]] | None = None  # the PyPI upload form
    action: str = "upload"  # upload | skip | conflict | overwrite
    remote_sha256: str | None = None
    result: str = ""
    detail: str = ""

    @property
    def conflict_line(self) -> str:
        extra = " (or pass --allow-generic-overwrite)" if self.registry == "generic" else ""
        return f"{self.name} {self.version} is already published with different content; bump the version{extra}"


def build_plan(settings: Settings, artifacts: list[Artifact], client: GitLabClient, workdir: Path) -> list[Item]:
    """PyPI files first, then the generic files, ``SHA256SUMS`` last: its presence means the set is complete."""
    items: list[Item] = []
    if "pypi" in settings.registries:
        items += [_pypi_item(artifact, client) for artifact in artifacts]
    if "generic" in settings.registries:
        items += _generic_items(settings, artifacts, client, workdir)
    return items


def _pypi_item(artifact: Artifact, client: GitLabClient) -> Item:
    digests = file_digests(artifact.path, ("sha256", "md5"))
    form = {":action": "file_upload", "protocol_version": "1", **artifact.form_metadata(),
            "sha256_digest": digests["sha256"], "md5_digest": digests["md5"]}
    return Item("pypi", artifact.path.name, artifact.path, artifact.name, artifact.version,
                f"{client.project_url}/packages/pypi", artifact.path.stat().st_size, digests["sha256"],
                fields=form_fields(form))


def _generic_items(settings: Settings, artifacts: list[Artifact], client: GitLabClient,
                   workdir: Path) -> list[Item]:
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
    items = [_generic_item(path, package, wheel.version, client) for path in paths]
    sums = "".join(f"{item.sha256}  {item.name}\n" for item in items)  # `sha256sum -c` format
    items.append(_generic_item(_write(workdir / SUMS_NAME, sums), package, wheel.version, client))
    return items


def _generic_item(path: Path, package: str, version: str, client: GitLabClient) -> Item:
    return Item("generic", path.name, path, package, version, client.generic_url(package, version, path.name),
                path.stat().st_size, file_digests(path)["sha256"])


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


def check_remote(client: GitLabClient, items: list[Item], *, allow_generic_overwrite: bool) -> None:
    """Set each item's action from what the registry holds now (reads only)."""
    indexes: dict[str, dict[str, str]] = {}
    for item in items:
        if item.registry == "pypi":
            if item.package not in indexes:
                indexes[item.package] = client.pypi_files(item.package)
            item.remote_sha256 = indexes[item.package].get(item.name)
        else:
            item.remote_sha256 = client.generic_sha256(item.package, item.version, item.name)
        if item.remote_sha256 is None:
            item.action = "upload"
        elif item.remote_sha256 == item.sha256:
            item.action = "skip"
        elif item.registry == "generic" and allow_generic_overwrite:
            item.action = "overwrite"
        else:
            item.action = "conflict"
