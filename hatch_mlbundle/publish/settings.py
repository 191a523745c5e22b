"""Publish settings: ``[tool.mlbundle.publish]`` in pyproject.toml, overridden by environment and options.

One entry, :func:`load_settings`, for the command line, ``hatch publish -p gitlab`` and the tests alike.
Precedence, highest first: option (flag or ``-o``), ``MLBUNDLE_PUBLISH_*`` variable, pyproject, then the default,
which for url/project is GitLab CI's own ``CI_API_V4_URL`` / ``CI_PROJECT_ID`` / ``CI_PROJECT_PATH``: those are
set in every job whether wanted or not, so a value the user wrote down (in pyproject or a variable of ours) wins.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterable, Mapping

from ..gitlab import ConfigError, RetryPolicy
from .context import TABLE, Settings
from .notify import split_urls
from .options import BY_NAME, KIND_NAMES, OPTIONS, Option, coerce, given
from .targets import select
from .targets.generic import WHEEL_PREFIX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hatchling brings tomli on older Pythons
    import tomli as tomllib

__all__ = ["Settings", "load_settings", "read_config"]
MAX_RETRIES = 100  # more is not patience: a registry failing that often is down
_KEYS = {option.key: option for option in OPTIONS if option.key}


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
            raise ConfigError(f"{TABLE} has an unknown key {key!r}; known keys: {', '.join(sorted(_KEYS))}")
        kind = _KEYS[key].kind
        is_bool = isinstance(value, bool)  # True is an int too: a bool only for a switch, a switch only a bool
        valid = isinstance(value, (int, float) if kind is float else kind) and is_bool == (kind is bool)
        if valid and kind is list:
            valid = all(isinstance(item, str) for item in value)
        if not valid:
            raise ConfigError(f"{TABLE} {key} must be {KIND_NAMES[kind]}")
    if table.get("registries") == []:  # else "unset": every target, the opposite of what an empty list says
        raise ConfigError(f"{TABLE} registries is empty; name at least one target (or leave the key out for all)")
    return table


def _unset(value: object) -> bool:
    return value is None or value == "" or value == []


def _value(option: Option, options: dict, env: Mapping[str, str], config: dict) -> object:
    """The first that is set of: option, our variable, pyproject, GitLab CI's variables, the default."""
    if not _unset(options.get(option.name)):
        return options[option.name]
    if option.env and env.get(option.env):
        return coerce(option, env[option.env], option.env)
    if option.key and not _unset(config.get(option.key)):
        return config[option.key]
    found = [env[name] for name in option.ci if env.get(name)]
    return found[0] if found else option.default_value()


def _inside_project(entries: Iterable[str], root: Path) -> None:
    """A project file to publish must be one of the project's: an absolute or ``../`` path (or a symlink out)
    would publish whatever the machine holds there."""
    for entry in entries:
        if entry.startswith(WHEEL_PREFIX):
            continue
        if Path(entry).is_absolute() or not (root / entry).resolve().is_relative_to(root):
            raise ConfigError(f"{TABLE} generic-files entry {entry!r} is outside the project; "
                              "name a file under the project directory, relative to it")


def _limit(value: dict, name: str) -> float:
    if not (math.isfinite(value[name]) and value[name] >= 0):
        raise ConfigError(f"{name} = {value[name]}: must be a finite number, 0 or more")
    return float(value[name])


def load_settings(options: Mapping[str, object], env: Mapping[str, str]) -> Settings:
    """Combine ``options`` (option name -> typed value, or text to parse), ``env`` and pyproject."""
    options = given(options)
    root = Path(str(options.get("root") or ".")).resolve()
    config = read_config(root)
    value = {name: _value(option, options, env, config) for name, option in BY_NAME.items()}
    policy = RetryPolicy(retries=value["retries"], timeout=value["timeout"], backoff=value["backoff"],
                         backoff_max=value["backoff-max"])
    for name in ("timeout", "backoff", "backoff-max"):  # nan passes every comparison below; inf never ends
        if not math.isfinite(value[name]):
            raise ConfigError(f"{name} = {value[name]}: must be a finite number of seconds")
    if policy.retries < 0 or policy.timeout <= 0 or policy.backoff < 0 or policy.backoff_max < 0:
        raise ConfigError("retries and backoff must be 0 or more, and the timeout more than 0")
    if policy.retries > MAX_RETRIES:
        raise ConfigError(f"retries={policy.retries} is more than {MAX_RETRIES}; a registry that fails that often "
                          "is down: run again later")
    _inside_project(value["generic-files"], root)
    # a dist named as an option is relative to where the user stands; one in pyproject, to the project
    dist = Path(str(options["dist"])).resolve() if options.get("dist") else root / str(value["dist"])
    project = value["project"]
    return Settings(
        root=root, dist=dist, url=value["url"], project=str(project) if project else None,
        registries=select(value["registry"]), generic_package=value["generic-package"],
        generic_files=tuple(value["generic-files"]), policy=policy,
        allow_generic_overwrite=value["allow-generic-overwrite"], dry_run=value["dry-run"], quiet=value["quiet"],
        verbose=value["verbose"], token=value["token"], deploy_user=value["deploy-user"],
        deploy_token=value["deploy-token"], notify_urls=split_urls(value["notify-urls"]),
        notify_dev=value["notify-dev"], tag=value["tag"] or None,
        max_accuracy_drop=_limit(value, "max-accuracy-drop"), max_latency_increase=_limit(value, "max-latency-increase"),
        allow_regression=value["allow-regression"])
