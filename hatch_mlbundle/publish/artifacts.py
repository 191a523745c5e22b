"""Read a wheel's or sdist's own core metadata with the standard library alone.

The upload form, the generic package's version and requirements.txt all come from the built artifact, never
from pyproject.toml: what is published must describe exactly the bytes being published.
"""

from __future__ import annotations

import email.message
import email.parser
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ..gitlab import ConfigError, normalize_name

# Header -> upload form field where twine renames it; every other header is lower_snake_case of itself.
_RENAMED = {"classifier": "classifiers", "project-url": "project_urls", "license-file": "license_file",
            "home-page": "home_page"}
# Headers that may repeat, sent as repeated form fields (the rest are single values).
_MULTIPLE = {"classifier", "platform", "supported-platform", "requires-dist", "provides-extra", "project-url",
             "requires-external", "provides-dist", "obsoletes-dist", "requires", "provides", "obsoletes",
             "license-file", "dynamic"}


@dataclass(frozen=True)
class Artifact:
    """A built distribution file and the core metadata inside it."""

    path: Path
    filetype: str  # "bdist_wheel" | "sdist", the upload form's names
    pyversion: str  # the wheel's python tag ("py3"), "source" for an sdist
    metadata: email.message.Message

    @property
    def name(self) -> str:
        return self.metadata["Name"]

    @property
    def version(self) -> str:
        return self.metadata["Version"]

    def form_metadata(self) -> dict[str, str | list[str]]:
        """The metadata part of the upload form, field for field what twine sends."""
        form: dict[str, str | list[str]] = {}
        for header in dict.fromkeys(key.lower() for key in self.metadata.keys()):
            field = _RENAMED.get(header, header.replace("-", "_"))
            values = self.metadata.get_all(header) or []
            form[field] = values if header in _MULTIPLE else values[0]
        if "description" not in form and self.metadata.get_payload():  # Metadata 2.1+: the body is the README
            form["description"] = self.metadata.get_payload()
        form["name"] = re.sub(r"[^A-Za-z0-9.]+", "-", self.name)  # twine's "safe name"
        form["filetype"] = self.filetype
        form["pyversion"] = self.pyversion
        return form

    def runtime_requirements(self) -> list[str]:
        """``Requires-Dist`` entries needed to run: those behind an ``extra == ...`` marker are optional."""
        return [req for req in self.metadata.get_all("Requires-Dist") or [] if not _needs_extra(req)]


def _needs_extra(requirement: str) -> bool:
    marker = requirement.partition(";")[2]
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", marker)  # "extra" inside a quoted value is not the variable
    return re.search(r"\bextra\b", unquoted) is not None


def read_artifact(path: Path) -> Artifact:
    """Parse ``path`` (``.whl`` or ``.tar.gz``); a broken file is a usage error, not a crash."""
    try:
        if path.name.endswith(".whl"):
            artifact = Artifact(path, "bdist_wheel", path.name[:-4].split("-")[-3], _parse(_wheel_metadata(path)))
        else:
            artifact = Artifact(path, "sdist", "source", _parse(_sdist_metadata(path)))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, KeyError, IndexError, StopIteration,
            UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name} is not a readable wheel or sdist ({type(exc).__name__}); "
                          "rebuild it") from None
    _check_file_name(artifact)
    return artifact


def _check_file_name(artifact: Artifact) -> None:
    """The file name must say what the metadata says: pip picks a file by its name and installs its metadata, and
    GitLab files it under the form's version, so a renamed file would be published as something it is not."""
    name = artifact.path.name
    try:
        parsed = parse_wheel_filename(name)[:2] if name.endswith(".whl") else parse_sdist_filename(name)
        same = (parsed[0] == normalize_name(artifact.name) and parsed[1] == Version(artifact.version))
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        same = False
    if not same:
        raise ConfigError(f"{name} is named for another release than its metadata's {artifact.name} "
                          f"{artifact.version}; rebuild it rather than rename it")


def _parse(text: bytes) -> email.message.Message:
    message = email.parser.Parser().parsestr(text.decode("utf-8"))
    if not message["Name"] or not message["Version"]:
        raise KeyError("Name/Version")
    return message


def _wheel_metadata(path: Path) -> bytes:
    """``<name>-<version>.dist-info/METADATA``: the dist-info directory at the top of the archive."""
    with zipfile.ZipFile(path) as archive:
        candidates = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        return archive.read(candidates[0])


def _sdist_metadata(path: Path) -> bytes:
    """``<name>-<version>/PKG-INFO``: the top-level one, not an ``*.egg-info`` copy deeper down."""
    with tarfile.open(path, "r:gz") as archive:
        member = next(m for m in archive if re.fullmatch(r"[^/]+/PKG-INFO", m.name))
        return archive.extractfile(member).read()


def find_artifacts(dist: Path) -> list[Artifact]:
    """Every wheel and sdist in ``dist``, which must all be one version of one distribution.

    A stale file of another version is refused rather than published by surprise.
    """
    if not dist.is_dir():
        raise ConfigError(f"{dist} is not a directory; build first (hatch build) or name the dist directory")
    paths = sorted(p for p in dist.iterdir() if p.is_file() and p.name.endswith((".whl", ".tar.gz")))
    if not paths:
        raise ConfigError(f"no wheel or sdist in {dist}; build first (hatch build)")
    artifacts = [read_artifact(p) for p in paths]
    releases = sorted({f"{normalize_name(a.name)} {a.version}" for a in artifacts})
    if len(releases) > 1:
        raise ConfigError(f"{dist} holds {' and '.join(releases)}; remove the stale files and publish one version")
    return artifacts
