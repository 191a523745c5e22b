"""The project's own code, reached only through the callables its config names (`train`, `evaluate`,
`generated`): imported on demand from `python-path`, their failures turned into one line.

This is the only place the hook touches the model, and it knows nothing of what the model is.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from . import fingerprint as fp
from .config import BundleConfig
from .errors import BundleError
from .gates import measures

DEBUG_ENV = "MLBUNDLE_DEBUG"


@contextlib.contextmanager
def project_path(config: BundleConfig) -> Iterator[None]:
    """The project's own code importable for the duration of a call."""
    added = [str(p) for p in config.python_path if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            sys.path.remove(entry)


def load_callable(config: BundleConfig, reference: str, option: str) -> Callable[..., Any]:
    module_name, _, name = reference.partition(":")
    with project_path(config):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise BundleError(
                f"Option `{option}` = {reference!r}: cannot import {module_name} ({exc}); "
                "check `python-path` and the build requirements"
            ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise BundleError(f"Option `{option}` = {reference!r}: {module_name} has no function {name}")
    return function


def call_project(config: BundleConfig, reference: str, option: str, *args: Any, **kwargs: Any) -> Any:
    """Call the project's train/evaluate; its failures become one line (the traceback with MLBUNDLE_DEBUG=1)."""
    function = load_callable(config, reference, option)
    try:
        with project_path(config):
            return function(*args, **kwargs)
    except (OSError, ValueError, LookupError) as exc:  # the project's own "you must do X" errors
        if os.environ.get(DEBUG_ENV):
            raise
        raise BundleError(f"{reference}: {exc}") from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise BundleError(f"{reference} failed: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)") from None


def evaluate(config: BundleConfig, weights: Path, **extra: str) -> dict[str, Any]:
    """The project's metrics of these weights (`extra`: the exported file), plus what the hook measures itself."""
    metrics = call_project(config, config.evaluate, "evaluate", str(weights), str(config.data_dir), **extra)
    if not isinstance(metrics, dict):
        raise BundleError(f"{config.evaluate} returned {type(metrics).__name__}, not a dict of metrics")
    return {**metrics, **measures(weights)}


def require_build_requires(config: BundleConfig, action: str, reason: str) -> None:
    """Training and evaluating need `build-requires` (torch); say so in one line instead of an ImportError."""
    missing = [req for req in config.build_requires if fp.installed_version(_requirement_name(req)) is None]
    if missing:
        raise BundleError(
            f"{', '.join(missing)} not installed in this build environment, and this build must {action} "
            f"({reason}); isolated builds (pip, python -m build, hatch) install `build-requires` themselves, "
            f"for --no-isolation builds run `pip install {' '.join(repr(m) for m in missing)}` first"
        )


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0]
