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
from .table import build_hook_table


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
