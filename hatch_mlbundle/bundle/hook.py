"""The build hook: thin on purpose; deciding lives in plan.py, acting in steps.py."""
from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

from .config import BundleConfig, load_config
from .description import refresh
from .errors import BundleError
from .plan import TRAIN, Plan, make_plan
from .steps import run


class MLBundleBuildHook(BuildHookInterface):
    PLUGIN_NAME = "mlbundle"

    def _bundle_config(self) -> BundleConfig:
        if not hasattr(self, "_config"):
            self._config = load_config(self.root, self.config, self.PLUGIN_NAME)
        return self._config

    def _plan(self) -> Plan:
        if not hasattr(self, "_cached_plan"):
            self._cached_plan = make_plan(self._bundle_config(), self.app.display_info)
        return self._cached_plan

    def dependencies(self) -> list[str]:
        """Ask for torch only when this build will train or evaluate: a no-op build needs none."""
        try:
            plan = self._plan()
        except BundleError:
            return []  # initialize() reports it, with the frontend's full attention
        return list(self._bundle_config().build_requires) if plan.needs_build_requires else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        try:
            artifacts = run(self._bundle_config(), self._plan(), self.app, self.metadata.name, self.metadata.version)
            if self._plan().action == TRAIN:  # the description was rendered from the lock before training
                refresh(self.metadata, self._bundle_config())
        except BundleError as exc:
            self.app.abort(f"mlbundle: {exc}")
        build_data["artifacts"].extend(artifacts)
