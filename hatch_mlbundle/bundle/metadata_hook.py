"""The metadata hook: the wheel's (and sdist's) long description is the Markdown model card.

hatchling asks for metadata before any build hook runs, so this hook renders the card from the lock as committed,
reading the build hook's own options (the same table, the same checks).  A build that trains writes a new lock
afterwards; the build hook then renders the description again (``description.refresh``), so the wheel's page
shows the figures of the weights it carries.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

from .config import load_config
from .description import long_description
from .errors import BundleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # hatchling itself depends on tomli there
    import tomli as tomllib

BUILD_HOOKS = ("mlbundle", "custom")  # where the build hook's table may be, as an installed plugin or by path


def build_hook_table(root: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    with open(root / "pyproject.toml", "rb") as stream:
        hooks = tomllib.load(stream).get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}) \
            .get("wheel", {}).get("hooks", {})
    for candidate in (name,) if name else BUILD_HOOKS:
        if isinstance(hooks.get(candidate), dict) and "weights" in hooks[candidate]:
            return candidate, hooks[candidate]
    raise BundleError("metadata hook `mlbundle`: no mlbundle build hook table under "
                      "[tool.hatch.build.targets.wheel.hooks]; set its option `build-hook` to the hook's name")


class MLBundleMetadataHook(MetadataHookInterface):
    PLUGIN_NAME = "mlbundle"

    def update(self, metadata: dict[str, Any]) -> None:
        unknown = sorted(set(self.config) - {"path", "build-hook"})
        if unknown:
            sys.exit(f"mlbundle: Option `{unknown[0]}` for metadata hook `mlbundle` is not known; known: build-hook")
        try:
            hook_name, table = build_hook_table(Path(self.root), self.config.get("build-hook"))
            config = load_config(self.root, table, hook_name)
            metadata["readme"] = long_description(config, metadata["name"], metadata["version"])
        except BundleError as exc:  # hatchling gives metadata hooks no app to abort with: one line, no traceback
            sys.exit(f"mlbundle: {exc}")
