"""Every publish option, declared once: its flag, type, help, environment variable, pyproject key and default.

The command line's parser, the ``[tool.mlbundle.publish]`` check, the ``MLBUNDLE_PUBLISH_*`` variables and the
``hatch publish -o key=value`` options are all read through this one table, so a new option (or a changed
default) cannot reach one entry point and miss another.  Retry defaults come from :class:`RetryPolicy` itself.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..gitlab import ConfigError, RetryPolicy
from ..gitlab.redact import MASK
from .targets import builtin_names

_POLICY = RetryPolicy()
_ENV_PREFIX = "MLBUNDLE_PUBLISH"
# `hatch publish -o dry-run` (a bare switch) arrives as "": on, as the flag would be, never silently off
_TRUE, _FALSE = ("1", "true", "yes", ""), ("0", "false", "no")
# how a value of each kind is described when it has the wrong type
KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list of strings"}


@dataclass(frozen=True)
class Option:
    name: str  # the long flag without dashes; the key of the options mapping and of `-o key=value`
    kind: type  # str | int | float | bool (a switch) | list (a repeatable flag)
    help: str  # "{default}" is replaced by the default
    flags: tuple[str, ...] = ()  # () when there is no flag; ("dist",) for the positional argument
    env: str | None = None  # MLBUNDLE_PUBLISH_* variable, above pyproject
    key: str | None = None  # key in [tool.mlbundle.publish]
    default: object = None  # a callable is called (the built-in targets are only known by looking)
    ci: tuple[str, ...] = ()  # GitLab CI's own variables: the last resort, below pyproject
    secret: bool = False  # masked in all output from before the flags are even parsed

    def default_value(self) -> object:
        return self.default() if callable(self.default) else self.default

    def help_text(self) -> str:
        value = self.default_value()
        if isinstance(value, (list, tuple)):
            value = ", ".join(value)
        elif isinstance(value, float):
            value = format(value, "g")  # 60.0 -> "60"
        return self.help.format(default=value)


OPTIONS: tuple[Option, ...] = (
    Option("dist", str, "directory holding the wheel and sdist (default: {default})", ("dist",), key="dist",
           default="dist"),
    Option("root", str, "project directory with pyproject.toml (default: current directory)", ("--root",)),
    Option("url", str, "GitLab API URL (default: CI_API_V4_URL)", ("--url",), "MLBUNDLE_PUBLISH_URL", "url",
           ci=("CI_API_V4_URL",)),
    Option("project", str, "project ID or path group/project (default: CI_PROJECT_ID, CI_PROJECT_PATH)",
           ("--project",), "MLBUNDLE_PUBLISH_PROJECT", "project", ci=("CI_PROJECT_ID", "CI_PROJECT_PATH")),
    Option("token", str, "personal, project or group access token (better: GITLAB_TOKEN)", ("--token",),
           secret=True),
    Option("deploy-user", str, "deploy token user name (or GITLAB_DEPLOY_USER)", ("--deploy-user",)),
    Option("deploy-token", str, "deploy token (better: GITLAB_DEPLOY_TOKEN)", ("--deploy-token",), secret=True),
    Option("registry", list, "publish to this registry only, or to a target given as package.module:Class; "
           "repeatable (default: {default})", ("--registry",), key="registries", default=builtin_names),
    Option("generic-package", str, "generic package name (default: the distribution name)",
           ("--generic-package",), key="generic-package"),
    Option("generic-files", list, "files for the generic registry; wheel:<member> takes one from the wheel",
           key="generic-files", default=()),
    Option("allow-generic-overwrite", bool, "upload generic files whose name exists with other content "
           "(GitLab serves the newest)", ("--allow-generic-overwrite",), default=False),
    Option("tag", str, "the git tag being released; it must name the built version (default: CI_COMMIT_TAG)",
           ("--tag",), ci=("CI_COMMIT_TAG",)),
    Option("max-accuracy-drop", float, "refuse a release whose accuracy is more than this many percentage points "
           "below the previous release's (default {default})", ("--max-accuracy-drop",),
           "MLBUNDLE_PUBLISH_MAX_ACCURACY_DROP", "max-accuracy-drop", 0.5),
    Option("max-latency-increase", float, "refuse a release whose latency is more than this many percent above "
           "the previous release's (default {default})", ("--max-latency-increase",),
           "MLBUNDLE_PUBLISH_MAX_LATENCY_INCREASE", "max-latency-increase", 50.0),
    Option("allow-regression", bool, "publish a release even if it regressed (the release notes say so)",
           ("--allow-regression",), "MLBUNDLE_PUBLISH_ALLOW_REGRESSION", default=False),
    Option("retries", int, "retries after a transient failure (default {default})", ("--retries",),
           "MLBUNDLE_PUBLISH_RETRIES", "retries", _POLICY.retries),
    Option("timeout", float, "seconds to wait for the server at each step (default {default})", ("--timeout",),
           "MLBUNDLE_PUBLISH_TIMEOUT", "timeout", _POLICY.timeout),
    Option("backoff", float, "first retry delay in seconds, doubling (default {default})", ("--backoff",),
           "MLBUNDLE_PUBLISH_BACKOFF", "backoff", _POLICY.backoff),
    Option("backoff-max", float, "longest retry delay in seconds (default {default})", (),
           "MLBUNDLE_PUBLISH_BACKOFF_MAX", "backoff-max", _POLICY.backoff_max),
    Option("notify-urls", list, "apprise URLs to notify after a publish; secret: only from the environment",
           env="MLBUNDLE_NOTIFY_URLS", default=(), secret=True),
    Option("notify-dev", bool, "also notify after publishing a dev build (default: releases only)",
           ("--notify-dev",), "MLBUNDLE_PUBLISH_NOTIFY_DEV", "notify-dev", False),
    Option("dry-run", bool, "print the plan, send nothing that writes", ("--dry-run",), default=False),
    Option("quiet", bool, "no progress bars or per-file lines", ("-q", "--quiet"), default=False),
    Option("verbose", bool, "log every request (tokens are masked)", ("-v", "--verbose"), default=False),
)
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def coerce(option: Option, value: object, source: str) -> object:
    """``value`` as the option's type; text (a variable, ``-o key=value``) is parsed, ``source`` named if it fails."""
    if option.kind is list:
        return [value] if isinstance(value, str) else [str(item) for item in value]
    if not isinstance(value, str) or option.kind is str:
        return value
    if option.kind is bool:
        word = value.strip().lower()
        if word not in _TRUE + _FALSE:
            raise ConfigError(f"{source}={value!r} is not true or false")
        return word in _TRUE
    try:
        return option.kind(value)
    except ValueError:
        raise ConfigError(f"{source}={value!r} is not a number") from None


def build_parser(prog: str) -> argparse.ArgumentParser:
    names = builtin_names()
    parser = argparse.ArgumentParser(
        prog=prog, allow_abbrev=False,  # an abbreviated --tok would slip past the token masking set up before
        description="Publish a built wheel and sdist to a GitLab project's PyPI and generic registries.",
        epilog="Token (first found): --token/--deploy-token, GITLAB_DEPLOY_USER+GITLAB_DEPLOY_TOKEN, "
               "GITLAB_TOKEN, CI_JOB_TOKEN. Settings: [tool.mlbundle.publish] in pyproject.toml; "
               f"{_variables()} override it. Notify after a publish: MLBUNDLE_NOTIFY_URLS, apprise URLs "
               "(pip install 'hatch-mlbundle[notify]').")
    for option in OPTIONS:
        if not option.flags:
            continue
        extra: dict[str, object] = {"nargs": "?"} if option.flags == ("dist",) else {}
        if option.kind is bool:
            extra["action"] = "store_true"
        elif option.kind is list:
            extra.update(action="append", metavar="{" + ",".join(names) + "}")
        elif option.kind is not str:
            extra["type"] = option.kind
        parser.add_argument(*option.flags, help=option.help_text(), default=None, **extra)
    return parser


def _variables() -> str:
    """``MLBUNDLE_PUBLISH_URL/_PROJECT/...``: every variable of the table, the common prefix written once."""
    names = [option.env for option in OPTIONS if option.env and option.env.startswith(_ENV_PREFIX)]
    return "/".join([names[0], *(name[len(_ENV_PREFIX):] for name in names[1:])])


def parse_argv(argv: Sequence[str], prog: str) -> dict[str, object]:
    """The flags given (argparse's own error and exit status 2 otherwise), keyed by option name."""
    parser = build_parser(prog)
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would echo them whole: a misspelled --tok=SECRET, or the value after --tokn
        parser.error(f"unrecognized arguments: {' '.join(_flag_only(arg) for arg in unknown)}")
    return {name.replace("_", "-"): value for name, value in vars(namespace).items() if value is not None}


def _flag_only(arg: str) -> str:
    """An unknown argument as it may be shown: a flag's name without its value, and no bare value at all."""
    flag, equals, _ = arg.partition("=")
    return flag + (f"={MASK}" if equals else "") if arg.startswith("-") else MASK


def secret_flags() -> tuple[str, ...]:
    return tuple(flag for option in OPTIONS if option.secret for flag in option.flags)


def given(options: Mapping[str, object]) -> dict[str, object]:
    """Known options, typed; an unknown name or a value of the wrong type is a one-line error."""
    typed: dict[str, object] = {}
    for name, value in options.items():
        if name not in BY_NAME:
            raise ConfigError(f"unknown option {name!r}; known: {', '.join(sorted(BY_NAME))}")
        if value is not None:
            typed[name] = coerce(BY_NAME[name], value, name)
    return typed
