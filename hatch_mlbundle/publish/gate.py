"""Refusals made before anything is sent: a tag that names another version than the one built, and a release
that is worse than the previous one.

Both end the run with one line and nothing published, so a retagged or regressed model never half-lands.
``--allow-regression`` lets a regression through, and the release notes then say which.
"""

from __future__ import annotations

import logging
from typing import Mapping

from packaging.version import Version

from ..gitlab import ConfigError, RegistryError
from .compare import regressions
from .history import History, tag_version

log = logging.getLogger("hatch_mlbundle.publish")


class Refused(RegistryError):
    """The publish is refused before anything was sent (exit 1)."""


def check_tag(tag: str | None, history: History) -> None:
    """The tag being released (CI_COMMIT_TAG, --tag) must name the version the wheel was built as."""
    if not tag:
        return
    named = tag_version(tag)
    if named is None:
        raise ConfigError(f"tag {tag!r} names no version; release tags look like v1.2.0")
    if named.is_devrelease or named.local:
        raise ConfigError(f"tag {tag} names a dev version; release tags look like v1.2.0 (dev versions are "
                          "published from the default branch, without a tag)")
    if named != Version(history.version):
        raise Refused(f"tag {tag} names version {named} but {history.name} was built as {history.version}; nothing "
                      f"was sent: build from the tagged commit with its tags fetched (GIT_DEPTH: 0), or fix the tag")


def tag_pipeline_publishes(history: History, env: Mapping[str, str]) -> str | None:
    """In a GitLab branch pipeline, a version that is not a dev version (the branch's commit carries a release
    tag) is left to the tag's own pipeline, which gates it and makes its Release: the line that says so."""
    branch = env.get("CI_COMMIT_BRANCH")
    version = Version(history.version)
    if history.is_release or not branch or version.is_devrelease or version.local:
        return None
    return (f"{history.name} {history.version} is a release: the pipeline of its tag v{history.version} publishes "
            f"it, with the regression gate and the GitLab Release; nothing to publish from branch {branch}")


def check_regression(history: History, *, max_accuracy_drop: float, max_latency_increase: float,
                     allow: bool) -> None:
    """Compare a release with the previous one; refuse a regression unless ``allow``, then note it as allowed."""
    if not history.is_release:
        return
    found = regressions(history.current, history.previous, max_accuracy_drop=max_accuracy_drop,
                        max_latency_increase=max_latency_increase)
    if found and not allow:
        raise Refused("; ".join(found) + "; nothing was sent: fix the model, or publish with --allow-regression")
    for line in found:
        log.warning("allowed regression (--allow-regression): %s", line)
    history.allowed = found
