"""``mlbundle-publish`` / ``python -m hatch_mlbundle publish``: exit 0 ok, 1 publish failure, 2 usage error.

``main`` is the console script's entry point as it is (``mlbundle-publish = "hatch_mlbundle.publish.cli:main"``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Mapping, Sequence

from ..gitlab import ConfigError, Redactor, RegistryError, redacted_output, resolve_credentials
from .config import REGISTRIES, load_settings
from .run import publish

_TOKEN_FLAGS = ("--token", "--deploy-token")
_TOKEN_VARIABLES = ("CI_JOB_TOKEN", "GITLAB_TOKEN", "GITLAB_DEPLOY_TOKEN")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, allow_abbrev=False,  # an abbreviated --tok would slip past the token masking set up before
        description="Publish a built wheel and sdist to a GitLab project's PyPI and generic registries.",
        epilog="Token (first found): --token/--deploy-token, GITLAB_DEPLOY_USER+GITLAB_DEPLOY_TOKEN, "
               "GITLAB_TOKEN, CI_JOB_TOKEN. Settings: [tool.mlbundle.publish] in pyproject.toml; "
               "MLBUNDLE_PUBLISH_URL/_PROJECT/_RETRIES/_TIMEOUT/_BACKOFF/_BACKOFF_MAX override it.")
    parser.add_argument("dist", nargs="?", help="directory holding the wheel and sdist (default: dist)")
    parser.add_argument("--root", help="project directory with pyproject.toml (default: current directory)")
    parser.add_argument("--url", help="GitLab API URL (default: CI_API_V4_URL)")
    parser.add_argument("--project", help="project ID or path group/project (default: CI_PROJECT_ID, CI_PROJECT_PATH)")
    parser.add_argument("--token", help="personal, project or group access token (better: GITLAB_TOKEN)")
    parser.add_argument("--deploy-user", help="deploy token user name (or GITLAB_DEPLOY_USER)")
    parser.add_argument("--deploy-token", help="deploy token (better: GITLAB_DEPLOY_TOKEN)")
    parser.add_argument("--registry", action="append", choices=REGISTRIES,
                        help="publish to this registry only; repeatable (default: both)")
    parser.add_argument("--generic-package", help="generic package name (default: the distribution name)")
    parser.add_argument("--allow-generic-overwrite", action="store_true",
                        help="upload generic files whose name exists with other content (GitLab serves the newest)")
    parser.add_argument("--retries", type=int, help="retries after a transient failure (default 4)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the server at each step (default 60)")
    parser.add_argument("--backoff", type=float, help="first retry delay in seconds, doubling (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, send nothing that writes")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-file lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request (tokens are masked)")
    return parser


def _secrets(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Tokens known before parsing, so that even an argparse error echoing a bad flag masks them."""
    found = [env.get(name, "") for name in _TOKEN_VARIABLES]
    for index, arg in enumerate(argv):
        flag, equals, value = arg.partition("=")
        if flag in _TOKEN_FLAGS:
            found.append(value if equals else (argv[index + 1] if index + 1 < len(argv) else ""))
    return found


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
    with redacted_output(Redactor(_secrets(argv, env))) as redactor:
        try:
            args = build_parser(prog).parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error already printed by argparse (2)
            return int(exc.code or 0)
        loggers = _logging(args.verbose, args.quiet)
        try:
            settings = load_settings(args, env)
            credentials = resolve_credentials(env, token=args.token, deploy_user=args.deploy_user,
                                              deploy_token=args.deploy_token, required=not args.dry_run)
            redactor.add(credentials.secret_forms())
            return publish(settings, credentials, progress=not args.quiet)
        except ConfigError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        except RegistryError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{prog}: interrupted; run again to finish (published files are skipped)", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - a bug must still not print a token or a bare traceback
            if args.verbose:
                traceback.print_exc()
            print(f"{prog}: internal error ({type(exc).__name__}: {exc}); rerun with --verbose and report it",
                  file=sys.stderr)
            return 1
        finally:
            for logger in loggers:
                logger.handlers = []
