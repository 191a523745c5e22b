"""The build hook's table in pyproject.toml, for the code that runs outside a build and must read the same
options: the metadata hook (hatchling hands it only its own table) and `python -m hatch_mlbundle join`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import BundleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # hatchling itself depends on tomli there
    import tomli as tomllib

BUILD_HOOKS = ("mlbundle", "custom")  # where the build hook's table may be, as an installed plugin or by path


def build_hook_table(root: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """(the hook's name, its table): the named one, else the first of BUILD_HOOKS with a `weights` option."""
    try:
        with open(root / "pyproject.toml", "rb") as stream:
            hooks = tomllib.load(stream).get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}) \
                .get("wheel", {}).get("hooks", {})
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(f"{root / 'pyproject.toml'} is not valid TOML ({exc}); fix it") from None
    for candidate in (name,) if name else BUILD_HOOKS:
        if isinstance(hooks.get(candidate), dict) and "weights" in hooks[candidate]:
            return candidate, hooks[candidate]
    which = f"table `{name}`" if name else "table (`mlbundle` or `custom`)"
    raise BundleError(f"no mlbundle build hook {which} with `weights` under [tool.hatch.build.targets.wheel.hooks]; "
                      "name the hook (the metadata hook's option `build-hook`, join's --hook)")
