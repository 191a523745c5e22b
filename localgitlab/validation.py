"""Grape's parameter validation as GitLab's package routes declare it: every failing rule is reported, in
declaration order, in one 400 {"error": "<param> <message>, ..."}."""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import unquote_plus

from .responses import invalid_params

# Gitlab::PathTraversal::PATH_TRAVERSAL_REGEX
_TRAVERSAL = re.compile(r"(\A(\.{1,2})\Z|\A\.\.[/\\]|[/\\]\.\.\Z|[/\\]\.\.[/\\]|\n)")


def valid_file_path(value: str) -> bool:
    """GitLab's `file_path: true`: no `..` step and not absolute, judged after one more URL-decoding
    (so %2e%2e%2f is caught); a value that would decode yet again is refused outright."""
    decoded = unquote_plus(value)
    return decoded == unquote_plus(decoded) and not _TRAVERSAL.search(decoded) and not decoded.startswith("/")


class Checks:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def required(self, name: str, value) -> bool:
        if value is None:
            self.errors.append(f"{name} is missing")
        return value is not None

    def regexp(self, name: str, value: str | None, pattern: re.Pattern) -> None:
        if value is not None and not pattern.fullmatch(value):
            self.errors.append(f"{name} is invalid")

    def file_path(self, name: str, value: str | None) -> None:
        if value is not None and not valid_file_path(value):
            self.errors.append(f"{name} should be a valid file path")

    def values(self, name: str, value: str | None, allowed: Iterable[str]) -> None:
        if value is not None and value not in allowed:
            self.errors.append(f"{name} does not have a valid value")

    def done(self) -> None:
        if self.errors:
            raise invalid_params(self.errors)


def check_file_path(name: str, value: str) -> None:
    """A route whose only validated parameter is a file path."""
    checks = Checks()
    checks.file_path(name, value)
    checks.done()
