"""``mlbundle-publish`` / ``python -m hatch_mlbundle publish``: exit 0 ok, 1 publish failure, 2 usage error.

``main`` is the console script's entry point as it is (``mlbundle-publish = "hatch_mlbundle.publish.cli:main"``);
``publish_options`` is the same run for options that arrive as a mapping (``hatch publish -p gitlab -o ...``),
so both report errors, mask tokens and choose exit statuses in one place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Iterator, Mapping, Sequence

from ..gitlab import ConfigError, Redactor, RegistryError, redacted_output
from . import notify
from .context import RunContext
from .options import BY_NAME, parse_argv, secret_flags
from .run import publish
from .settings import Settings, load_settings

_TOKEN_VARIABLES = ("CI_JOB_TOKEN", "GITLAB_TOKEN", "GITLAB_DEPLOY_TOKEN")
_URLS = "notify-urls"  # a secret option that is URLs, secrets in their parts


def _argv_secrets(argv: Sequence[str]) -> list[str]:
    """Tokens on the command line, found before parsing, so that even an argparse error echoing one masks it."""
    found, flags = [], secret_flags()
    for index, arg in enumerate(argv):
        flag, equals, value = arg.partition("=")
        if flag in flags:
            found.append(value if equals else (argv[index + 1] if index + 1 < len(argv) else ""))
    return found


def _option_secrets(options: Mapping[str, object]) -> list[str]:
    found = [str(value) for name, value in options.items()
             if name in BY_NAME and BY_NAME[name].secret and value and name != _URLS]
    return found + notify.secret_forms(notify.split_urls(options.get(_URLS) or ()))


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    urls = notify.split_urls(env.get(notify.ENV, ""))  # and every token or password inside them
    return [env.get(name, "") for name in _TOKEN_VARIABLES] + notify.secret_forms(urls)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, as an exception: not an ``Exception``, so no handler on the way mistakes it for an error."""


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """By default SIGTERM (a cancelled CI job, ``kill``) ends the process on the spot and leaves the run's temp
    directory behind; raised instead, it unwinds through every ``with``, which clean up."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise _Terminated(signum)

    saved = {number: signal.signal(number, unwind) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def _logging(verbose: bool, quiet: bool) -> list[logging.Logger]:
    """Our lines (and, verbose, urllib3's) to stderr, which is already the masking stream."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    names = ["hatch_mlbundle.publish", "hatch_mlbundle.gitlab"] + (["urllib3"] if verbose else [])
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    return loggers


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         prog: str = "mlbundle-publish") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    with redacted_output(Redactor(_argv_secrets(argv) + _env_secrets(env))) as redactor:
        try:
            options = parse_argv(argv, prog)
        except SystemExit as exc:  # --help (0) or a usage error already printed by argparse (2)
            return int(exc.code or 0)
        return _run(options, env, prog, redactor)


def publish_options(options: Mapping[str, object], env: Mapping[str, str], prog: str) -> int:
    """The run for options given as a mapping: option name -> value, typed or as text."""
    with redacted_output(Redactor(_option_secrets(options) + _env_secrets(env))) as redactor:
        return _run(options, env, prog, redactor)


def _run(options: Mapping[str, object], env: Mapping[str, str], prog: str, redactor: Redactor) -> int:
    settings: Settings | None = None
    loggers: list[logging.Logger] = []
    try:
        settings = load_settings(options, env)
        loggers = _logging(settings.verbose, settings.quiet)
        with _signals_unwind():
            return publish(RunContext(settings, env, redactor=redactor))
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run again to finish (published files are skipped)", file=sys.stderr)
        return 130
    except _Terminated as exc:
        print(f"{prog}: terminated; run again to finish (published files are skipped)", file=sys.stderr)
        return 128 + exc.args[0]
    except Exception as exc:  # noqa: BLE001 - a bug must still not print a token or a bare traceback
        if settings is not None and settings.verbose:
            traceback.print_exc()
        print(f"{prog}: internal error ({type(exc).__name__}: {exc}); rerun with --verbose and report it",
              file=sys.stderr)
        return 1
    finally:
        for logger in loggers:
            logger.handlers = []
