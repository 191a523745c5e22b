"""Publish targets, found by name: a module of this package, or any importable ``package.module:Class``.

A built-in target is a module here defining ``TARGET`` (its :class:`Target` subclass), so adding a registry is
adding one module: the choices, the default selection and the messages follow by looking.  A target of a
project's own (a folder, a mirror) needs no change here: name its class, as the build hook names ``train``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING, Iterable

from ...gitlab import ConfigError
from .base import Item, Target

if TYPE_CHECKING:
    from ..context import RunContext

__all__ = ["Item", "Target", "builtin_names", "open_targets", "select", "target_class"]
_NOT_TARGETS = {"base"}  # the contract itself


@functools.lru_cache(maxsize=None)
def builtin_names() -> tuple[str, ...]:
    """The modules of this package that are targets, in their publishing order."""
    names = [module.name for module in pkgutil.iter_modules(__path__)
             if module.name not in _NOT_TARGETS and not module.name.startswith("_")]
    names = [name for name in names if _builtin(name) is not None]  # a helper module two targets share
    return tuple(sorted(names, key=lambda name: (_builtin(name).order, name)))


def _builtin(name: str) -> type[Target] | None:
    return getattr(importlib.import_module(f"{__name__}.{name}"), "TARGET", None)


def target_class(name: str) -> type[Target]:
    """The class for a selected name; an unknown or broken name is a one-line :class:`ConfigError`."""
    if ":" not in name:
        if name not in builtin_names():
            raise ConfigError(f"unknown registry {name!r}; choose from {', '.join(builtin_names())}, "
                              "or give a target as package.module:Class")
        return _builtin(name)
    module_name, _, class_name = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"registry {name!r}: cannot import {module_name} ({exc}); "
                          "is its directory on PYTHONPATH?") from None
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Target)):
        raise ConfigError(f"registry {name!r}: {module_name} has no Target subclass {class_name}")
    return found


def select(names: Iterable[str]) -> tuple[str, ...]:
    """Checked, each once: built-in targets in their own order (as always), then the others as given."""
    chosen = list(dict.fromkeys(names))
    for name in chosen:
        target_class(name)
    builtin = [name for name in builtin_names() if name in chosen]
    return tuple(builtin + [name for name in chosen if name not in builtin])


def open_targets(names: Iterable[str], context: RunContext) -> list[Target]:
    return [target_class(name)(name, context) for name in names]
