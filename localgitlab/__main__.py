"""Run a local GitLab package registry by hand, to rehearse a publish before doing it for real.

    python -m localgitlab --project 1217:group/mnist --private-token T --job-token J
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .server import LocalGitLab


def _project(spec: str) -> tuple[int, str]:
    number, _, path = spec.partition(":")
    if not number.isdigit() or not path:
        raise argparse.ArgumentTypeError(f"{spec!r} is not ID:PATH, for example 1217:group/mnist")
    return int(number), path


def _deploy_token(spec: str) -> tuple[str, str]:
    user, _, token = spec.partition(":")
    if not user or not token:
        raise argparse.ArgumentTypeError("a deploy token is USER:TOKEN, for example gitlab+deploy-token-1:<token>")
    return user, token


def _index_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or "://" == url[-3:]:
        raise argparse.ArgumentTypeError(f"{url!r} is not an http(s) URL of a simple index, for example "
                                         "https://pypi.org/simple")
    return url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localgitlab",
        description="Serve GitLab's generic and PyPI package registries and Releases API on 127.0.0.1. Every token is a "
                    "Developer of every project (a deploy token has read and write package scopes).")
    parser.add_argument("--port", type=int, default=8929, help="port to listen on, 0 for any free one (default 8929)")
    parser.add_argument("--storage", default="./.registry", help="directory that keeps the packages (default ./.registry)")
    parser.add_argument("--project", type=_project, action="append", required=True, metavar="ID:PATH",
                        help="a project, for example 1217:group/mnist (repeatable)")
    parser.add_argument("--private-token", help="a personal access token to accept")
    parser.add_argument("--job-token", help="a CI job token to accept")
    parser.add_argument("--deploy-token", type=_deploy_token, metavar="USER:TOKEN", help="a deploy token to accept")
    parser.add_argument("--public", action="store_true", help="make the projects public (anonymous reads work)")
    parser.add_argument("--pypi-forward", metavar="URL", type=_index_url,
                        help="forward PyPI index misses to this simple index, as GitLab does to pypi.org "
                             "(e.g. https://pypi.org/simple); off by default")
    parser.add_argument("--no-generic-duplicates", action="store_true",
                        help="refuse a generic file name that a package already has (GitLab allows it by default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        registry = LocalGitLab(args.storage, port=args.port, pypi_forward=args.pypi_forward)
        registry.start()
    except OSError as error:
        print(f"localgitlab: cannot serve on 127.0.0.1:{args.port} with storage {args.storage}: "
              f"{error.strerror or error}; choose another --port or --storage", file=sys.stderr)
        return 1
    roles = {project_id: "developer" for project_id, _ in args.project}
    for project_id, path in args.project:
        registry.add_project(project_id, path, "public" if args.public else "private")
    if args.private_token:
        registry.add_personal_token(args.private_token, "developer", roles)
    if args.job_token:
        registry.add_job_token(args.job_token, "developer", roles)
    if args.deploy_token:
        registry.add_deploy_token(*args.deploy_token, projects=list(roles))
    registry.settings.generic_duplicates_allowed = not args.no_generic_duplicates

    print(f"GitLab API URL (CI_API_V4_URL): {registry.api_url}")
    for project_id, path in args.project:
        print(f"  project {project_id} ({path}): PyPI index "
              f"{registry.api_url}/projects/{project_id}/packages/pypi/simple")
    if args.pypi_forward:
        print(f"  PyPI names a project does not have are redirected to {args.pypi_forward}")
    print("Press Ctrl-C to stop.", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    registry.stop()
    print("localgitlab: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
