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
MIN_TOKEN_LENGTH = 8  # shorter "tokens" are refused (auth.py): masking one would blot out ordinary text
TEXT_LIMIT = 300  # characters of server text in one message line
_MIN_FRAGMENT = 4  # the start of a known token left at the end of cut text is masked from this length on
# GitLab's prefixed token formats (glpat- personal, gldt- deploy, glcbt- job, glptt- trigger, ...): masked even
# when we were never told they are tokens, e.g. after a misspelled --token flag.
_PREFIXES = r"(?:glpat|gldt|glcbt|glptt|glrt|gloas|glimt|glft|glsoat|glagent|glffct)-"
_GITLAB_TOKEN = re.compile(_PREFIXES + r"[\w-]{8,}")
_CUT_TOKEN = re.compile(_PREFIXES + r"[\w-]*\Z")  # what is left of a prefixed token cut by shortening


class Redactor:
    """Replaces each known secret (longest first, so a token inside its Basic form is not half-masked),
    then anything shaped like a GitLab token."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        known = {s for s in secrets if len(s) >= MIN_TOKEN_LENGTH}
        self._secrets = sorted(set(self._secrets) | known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _GITLAB_TOKEN.sub(MASK, text)

    def shorten(self, text: str, limit: int = TEXT_LIMIT) -> str:
        """Server text fit for one message line: redacted *before* it is cut (a cut token no longer matches),
        cut once to ``limit`` characters, and a token's first characters left at the cut masked as well."""
        text = " ".join(self.redact(text).split())
        if len(text) <= limit:
            return text
        text = _CUT_TOKEN.sub(MASK, text[:limit])
        for secret in self._secrets:
            fragment = next((secret[:n] for n in range(len(secret) - 1, _MIN_FRAGMENT - 1, -1)
                             if text.endswith(secret[:n])), "")
            if fragment:
                text = text[: -len(fragment)] + MASK
                break
        return text + "..."


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
