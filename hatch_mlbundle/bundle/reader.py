"""Typed access to one hook table, in hatchling's words: "Option `x` for build hook `y` must be ...".

It remembers which keys were read, so that a key nobody read is an error (hatchling ignores typos).
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import BundleError

# hatchling itself reads these from a hook's table.
HATCHLING_OPTIONS = frozenset(
    {"enable-by-default", "dependencies", "require-runtime-dependencies", "require-runtime-features", "path"}
)
_KIND_NAMES = {str: "string", float: "number", int: "integer", bool: "boolean", list: "array", dict: "table"}


class Reader:
    """Typed access to a hook table that remembers which keys were used."""

    def __init__(self, table: Mapping[str, Any], hook_name: str):
        self.table = table
        self.hook_name = hook_name
        self.used = set(HATCHLING_OPTIONS)

    def fail(self, key: str, problem: str):
        raise BundleError(f"Option `{key}` for build hook `{self.hook_name}` {problem}")

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                self.fail(key, "is required (set it in the hook's table in pyproject.toml)")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            name = _KIND_NAMES[kind]
            self.fail(key, f"must be {'an' if name[0] in 'aeiou' else 'a'} {name}, not {type(value).__name__}")
        return value

    def strings(self, key: str, default=()) -> tuple[str, ...]:
        values = self.get(key, list, list(default))
        if not all(isinstance(v, str) and v for v in values):
            self.fail(key, "must be an array of non-empty strings")
        return tuple(values)

    def callable_ref(self, key: str, required: bool = True) -> str | None:
        value = self.get(key, str, required=required)
        if value is None:
            return None
        module, _, function = value.partition(":")
        if not module or not function:
            self.fail(key, f"must look like 'package.module:function', not {value!r}")
        return value

    def check_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            self.fail(unknown[0], f"is not known; known options: {', '.join(sorted(self.used - HATCHLING_OPTIONS))}")
