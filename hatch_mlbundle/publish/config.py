"""Publish settings: ``[tool.mlbundle.publish]`` in pyproject.toml, overridden by environment and flags.

Precedence, highest first: flag, ``MLBUNDLE_PUBLISH_*`` variable, pyproject, then the default, which for
url/project is GitLab CI's own ``CI_API_V4_URL`` / ``CI_PROJECT_ID`` / ``CI_PROJECT_PATH``: those are set in every
job whether wanted or not, so a value the user wrote down (in pyproject or a variable of ours) wins over them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..gitlab import ConfigError, RetryPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling brings tomli on older Pythons
    import tomli as tomllib

REGISTRIES = ("pypi", "generic")
_TABLE = "[tool.mlbundle.publish]"
# key -> (type check, description used in the error message)
_KEYS = {
    "url": (str, "a string"), "project": (str, "a string"), "dist": (str, "a string"),
    "generic-package": (str, "a string"), "registries": (list, "a list of strings"),
    "generic-files": (list, "a list of strings"), "retries": (int, "an integer"),
    "timeout": ((int, float), "a number"), "backoff": ((int, float), "a number"),
    "backoff-max": ((int, float), "a number"),
}
_ENV_NUMBERS = {"retries": "MLBUNDLE_PUBLISH_RETRIES", "timeout": "MLBUNDLE_PUBLISH_TIMEOUT",
                "backoff": "MLBUNDLE_PUBLISH_BACKOFF", "backoff-max": "MLBUNDLE_PUBLISH_BACKOFF_MAX"}


@dataclass(frozen=True)
class Settings:
    root: Path
    dist: Path
    url: str
    project: str
    registries: tuple[str, ...]
    generic_package: str | None
    generic_files: tuple[str, ...]
    policy: RetryPolicy
    allow_generic_overwrite: bool = False
    dry_run: bool = False


def read_config(root: Path) -> dict:
    """The ``[tool.mlbundle.publish]`` table, checked, so that a typo is an error and not a silent default."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject} cannot be read: {exc}") from None
    table = data.get("tool", {}).get("mlbundle", {}).get("publish", {})
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{_TABLE} has an unknown key {key!r}; known keys: {', '.join(sorted(_KEYS))}")
        kind, description = _KEYS[key]
        valid = isinstance(value, kind) and not isinstance(value, bool)
        if valid and kind is list:
            valid = all(isinstance(item, str) for item in value)
        if not valid:
            raise ConfigError(f"{_TABLE} {key} must be {description}")
    return table


def _number(name: str, flag, env: Mapping[str, str], config: dict, default: float, kind=float):
    """First of flag, environment variable, pyproject; the variable is named when it does not parse."""
    if flag is not None:
        return flag
    variable = _ENV_NUMBERS[name]
    if env.get(variable):
        try:
            return kind(env[variable])
        except ValueError:
            raise ConfigError(f"{variable}={env[variable]!r} is not a number") from None
    return config.get(name, default)


def load_settings(args, env: Mapping[str, str]) -> Settings:
    """Combine flags (``args``, an argparse namespace whose unset options are ``None``), env and pyproject."""
    root = Path(args.root or ".").resolve()
    config = read_config(root)
    url = args.url or env.get("MLBUNDLE_PUBLISH_URL") or config.get("url") or env.get("CI_API_V4_URL")
    if not url:
        raise ConfigError("no GitLab URL: set CI_API_V4_URL, give --url, or set url in " + _TABLE)
    project = (args.project or env.get("MLBUNDLE_PUBLISH_PROJECT") or config.get("project")
               or env.get("CI_PROJECT_ID") or env.get("CI_PROJECT_PATH"))
    if not project:
        raise ConfigError("no GitLab project: set CI_PROJECT_ID or CI_PROJECT_PATH, or give --project")
    registries = tuple(args.registry or config.get("registries") or REGISTRIES)
    unknown = set(registries) - set(REGISTRIES)
    if unknown:
        raise ConfigError(f"unknown registry {sorted(unknown)[0]!r}; choose from {', '.join(REGISTRIES)}")
    default = RetryPolicy()
    policy = RetryPolicy(
        retries=_number("retries", args.retries, env, config, default.retries, int),
        timeout=_number("timeout", args.timeout, env, config, default.timeout),
        backoff=_number("backoff", args.backoff, env, config, default.backoff),
        backoff_max=_number("backoff-max", None, env, config, default.backoff_max))
    if policy.retries < 0 or policy.timeout <= 0 or policy.backoff < 0 or policy.backoff_max < 0:
        raise ConfigError("retries and backoff must be 0 or more, and the timeout more than 0")
    # a dist named on the command line is relative to where the user stands; one in pyproject, to the project
    dist = Path(args.dist).resolve() if args.dist else root / config.get("dist", "dist")
    return Settings(
        root=root, dist=dist, url=url, project=str(project),
        registries=registries, generic_package=args.generic_package or config.get("generic-package"),
        generic_files=tuple(config.get("generic-files", ())), policy=policy,
        allow_generic_overwrite=args.allow_generic_overwrite, dry_run=args.dry_run)
