"""Keep tokens out of everything a run prints.

Scrubbing each message at its source is easy to forget in one place (an argparse error echoing a mistyped
flag, a library's debug log, a traceback), so the publish entry points wrap ``sys.stdout``/``sys.stderr``
once and every byte of output goes through :meth:`Redactor.redact`.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Iterable, Iterator

MASK = "*****"
# GitLab's prefixed token formats (glpat- personal, gldt- deploy, glcbt- job, glptt- trigger, ...): masked even
# when we were never told they are tokens, e.g. after a misspelled --token flag.
_GITLAB_TOKEN = re.compile(r"\b(?:glpat|gldt|glcbt|glptt|glrt|gloas|glimt|glft|glsoat|glagent|glffct)-[\w-]{8,}")


class Redactor:
    """Replaces each known secret (longest first, so a token inside its Basic form is not half-masked),
    then anything shaped like a GitLab token."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _GITLAB_TOKEN.sub(MASK, text)


class _RedactingStream:
    """A text stream that scrubs what is written and passes everything else (isatty, fileno...) through."""

    def __init__(self, stream, redactor: Redactor):
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.redact(text))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_output(redactor: Redactor) -> Iterator[Redactor]:
    """Route stdout and stderr through ``redactor`` for the duration (loggers created inside inherit it)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(sys.stdout, redactor), _RedactingStream(sys.stderr, redactor)
    try:
        yield redactor
    finally:
        sys.stdout, sys.stderr = saved
