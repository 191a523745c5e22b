"""The model being published and the release before it: what the release notes, the regression gate and the
notification compare.

The model's card (``model_card.json``, written by the build hook) is read from the wheel, so the figures are
those of the bytes being published.  The previous release is the highest released version below this one, by
the project's GitLab Releases, and its card is the one the generic registry holds: both read from the server,
never from a local guess.  Dev and pre-release versions are never "the previous release".
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from ..gitlab import ConfigError

if TYPE_CHECKING:
    from .artifacts import Artifact
    from .context import RunContext

log = logging.getLogger("hatch_mlbundle.publish")
CARD = "model_card.json"
CARD_LIMIT = 1 << 20


@dataclass(frozen=True)
class Release:
    version: str
    card: dict[str, Any] | None  # None: no card found for it


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def tag_version(tag: str) -> Version | None:
    """``v1.2.0`` names version 1.2.0 (the tags hatch-vcs and the pipeline take); anything else names none."""
    return parse_version(tag[1:]) if tag[:1] == "v" and tag[1:2].isdigit() else None


def wheel_card(wheel: Artifact) -> dict[str, Any] | None:
    """The wheel's model card (its one ``model_card.json``), ``None`` if it ships none."""
    with zipfile.ZipFile(wheel.path) as archive:
        names = [name for name in archive.namelist() if PurePosixPath(name).name == CARD]
        if len(names) != 1:
            return None
        try:
            card = json.loads(archive.read(names[0]))
        except ValueError:
            raise ConfigError(f"{wheel.path.name}: {names[0]} is not JSON; rebuild the wheel") from None
    return card if isinstance(card, dict) else None


class History:
    """This publish's version and card, and (read when first asked for) the previous release's."""

    def __init__(self, context: RunContext, artifacts: list[Artifact]):
        self.context = context
        wheels = [artifact for artifact in artifacts if artifact.filetype == "bdist_wheel"]
        self.wheel = wheels[0] if wheels else None
        self.name = artifacts[0].name
        self.version = artifacts[0].version
        self.current = Release(self.version, wheel_card(self.wheel) if self.wheel else None)
        # A release is the publish of a tag (CI_COMMIT_TAG, --tag; gate.check_tag makes sure it names this
        # version): it gets a GitLab Release, the regression gate and a notification.  Anything else (a main
        # pipeline's dev version, a shell publish without --tag) is published as files only.
        self.is_release = bool(context.settings.tag)
        self.allowed: list[str] = []  # regressions let through with --allow-regression (the gate sets them)

    @property
    def generic_package(self) -> str:
        return self.context.settings.generic_package or self.name

    @cached_property
    def previous(self) -> Release | None:
        """The highest final release below this version that has a GitLab Release; ``None`` for a first one."""
        client = self.context.gitlab()
        mine = Version(self.version)
        versions = [tag_version(release.get("tag_name") or "") for release in client.releases()]
        earlier = [v for v in versions if v is not None and not v.is_prerelease and not v.local and v < mine]
        if not earlier:
            return None
        version = str(max(earlier))
        data = client.generic_read(self.generic_package, version, CARD, limit=CARD_LIMIT)
        card = None
        if data is None:
            log.warning("release %s has no %s in the generic registry: nothing to compare with", version, CARD)
        else:
            try:
                card = json.loads(data)
            except ValueError:
                log.warning("release %s: its %s is not JSON: nothing to compare with", version, CARD)
        return Release(version, card if isinstance(card, dict) else None)
