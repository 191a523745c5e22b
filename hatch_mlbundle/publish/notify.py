"""Tell people a publish is out, through apprise: Slack, Mattermost, Teams, Discord, e-mail, Telegram and JSON
webhooks from one optional, maintained library (``pip install hatch-mlbundle[notify]``), not a client per service.

It runs after the publish succeeded, so nothing here may fail or undo it: apprise missing, a URL apprise cannot
use, a service down, each is one warning line handed back to the caller, never an exception.

The URLs carry secrets (webhook tokens in the path or even the host, passwords, ``?token=`` values), and apprise
logs URLs, rewritten and in pieces, at every level.  :func:`secret_forms` names every part that could be one, for
the run's redactor (the CLI registers them before anything runs); during :func:`send` apprise's log, and that of
urllib3 below it, go nowhere but through the redactor into this module's debug log.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Iterable, Iterator, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from ..gitlab.redact import MASK, Redactor

ENV = "MLBUNDLE_NOTIFY_URLS"
INSTALL_HINT = "pip install 'hatch-mlbundle[notify]' (or: pip install apprise)"
_LOG = logging.getLogger(__name__)
_CAPTURED = ("apprise", "urllib3")  # apprise's logger, and the HTTP library under most of its services
# apprise splits where a new URL starts after whitespace, commas or semicolons: a comma in a query stays put
_NEXT_URL = re.compile(r"[\s,;]+(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_DELIMITERS = re.compile(r"[\s,;]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")
_PUBLIC_HOSTS = ("localhost",)
_APPRISE_MASKED = re.compile(r"(?<![\w.])[^\s/.]\.\.\.[^\s/.](?![\w.])")  # "T...3": a token's first, last


def split_urls(values: str | Iterable[str]) -> tuple[str, ...]:
    """``MLBUNDLE_NOTIFY_URLS`` as single URLs; text that is no URL at all is kept, to be reported by name."""
    found: list[str] = []
    for value in map(str, [values] if isinstance(values, str) else values):
        parts = _NEXT_URL.split(value.strip()) if "://" in value else _DELIMITERS.split(value)
        found += [stripped for part in parts if (stripped := part.strip(" \t\r\n,;"))]
    return tuple(found)


def secret_forms(urls: Iterable[str]) -> list[str]:
    """Each URL whole, and every part of it that may be a secret, as written and percent-decoded: user and
    password, a host that is no host name (Slack's and Discord's first token), path segments, query values,
    fragment.  The redactor ignores the short ones (ordinary words)."""
    urls, forms = list(urls), []
    for url in urls:
        forms.append(url)
        try:
            parts = urlsplit(url)
            address = parts.netloc.rpartition("@")[2]
            host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
            pieces = [parts.username or "", parts.password or "", parts.fragment,
                      *parts.path.split("/"), *(value for _, value in parse_qsl(parts.query))]
            if "." not in host and ":" not in host and host not in _PUBLIC_HOSTS:
                pieces += [host, address]  # as written: .hostname is lower case, a token is not
            if port and not port.isdigit():  # Telegram: tgram://<bot id>:<bot token>/..., the token after ":"
                pieces += [port, address]
        except ValueError:  # not even a URL's shape (a bad port, an open bracket): every piece of it
            pieces = re.split(r"[/:@?&=#]+", url)
        forms += [form for piece in pieces if piece for form in (piece, unquote(piece))]
    return list(dict.fromkeys(forms + [unquote(url) for url in urls]))


def send(urls: Sequence[str], title: str, body: str, *, redact: Redactor) -> list[str]:
    """Send ``title`` and the Markdown ``body`` to every URL; the one-line warnings, none when all delivered.

    Each URL is its own service (one failing does not hide the others' result), tried once, with apprise's own
    timeouts (4 s to connect and 4 s to read by default; ``?cto=&rto=`` in a URL changes them).
    """
    if not urls:
        return []
    redact.add(secret_forms(urls))
    warnings = []
    with _captured_logs(redact) as problems:  # from the import on: apprise logs as it loads
        try:
            import apprise
        except ImportError:
            return [f"notifications not sent: apprise is not installed; {INSTALL_HINT}"]
        for number, url in enumerate(urls, 1):
            name = f"notification {number} of {len(urls)} ({_scheme(url)})"
            problems.clear()
            try:
                service = apprise.Apprise.instantiate(url)
                if service is None:
                    warnings.append(f"{name}: not a URL apprise can use ({_reason(problems)}); "
                                    f"check {ENV} against https://appriseit.com/services/")
                elif not service.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN):
                    warnings.append(f"{name} failed: {_reason(problems)}; the publish itself is done")
            except Exception as exc:  # noqa: BLE001 - a service's bug must not fail a finished publish
                warnings.append(f"{name} failed: {type(exc).__name__}: {exc}; the publish itself is done")
    return [redact.shorten(line) for line in warnings]


def _scheme(url: str) -> str:
    """The URL's service, safe to show: its scheme, or "?" when what precedes ``://`` is not one."""
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://" if separator and _SCHEME.fullmatch(scheme) else "?"


def _reason(problems: list[str]) -> str:
    return problems[-1] if problems else "no reason given"


class _Capture(logging.Handler):
    """Keeps apprise's warnings and errors (the reason for a failure) and passes every record on, redacted."""

    def __init__(self, redact: Redactor):
        super().__init__(logging.DEBUG)
        self.redact = redact
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.redact.shorten(_APPRISE_MASKED.sub(MASK, record.getMessage().rstrip(".")))
        except Exception:  # noqa: BLE001 - logging's own handleError would print the record's arguments raw
            text = "a log record that cannot be formatted"
        _LOG.debug("%s: %s", record.name, text)
        if record.levelno >= logging.WARNING:
            self.problems.append(text)


@contextlib.contextmanager
def _captured_logs(redact: Redactor) -> Iterator[list[str]]:
    """apprise's and urllib3's loggers write only to a :class:`_Capture` for the duration, then are restored."""
    capture = _Capture(redact)
    loggers = [logging.getLogger(name) for name in _CAPTURED]
    saved = [(logger.handlers, logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [capture], False
        logger.setLevel(logging.DEBUG)
    try:
        yield capture.problems
    finally:
        for logger, (handlers, propagate, level) in zip(loggers, saved):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
