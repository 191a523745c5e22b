"""``python -m hatch_mlbundle weights push FILE... --lock LOCK``: trained weights to the generic registry, and
their reference (url, sha256, size) into the lock, so the files can leave git (the hook fetches them back).

Only files the lock vouches for are sent (their sha256 is the lock's weights or exported file), under a version
named by the weights' sha256: the same weights always land at the same URL. A file above the registry's
limit is refused before a byte is sent. The upload is streamed and read back like the generic target's; the
lock is written last, so a failed push changes nothing. Exit 0 ok, 1 registry failure, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from ..files import sha256_file, write_json_atomic
from ..gitlab import ConfigError, GitLabClient, Redactor, RegistryError, redacted_output, resolve_credentials

GENERIC_LIMIT = 5 << 30  # generic_packages_max_file_size's default (plan limits), 5 GiB
_TOKENS = ("CI_JOB_TOKEN", "GITLAB_TOKEN", "GITLAB_DEPLOY_TOKEN")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["push"])
    parser.add_argument("files", nargs="+", type=Path, help="the weights (and exported model) the lock records")
    parser.add_argument("--lock", type=Path, required=True, help="the hook's lock (mlbundle.lock)")
    parser.add_argument("--root", type=Path, default=Path("."), help="the project root (paths in the lock are relative to it)")
    parser.add_argument("--package", default="model-weights", help="generic package name (default model-weights)")
    parser.add_argument("--url", help="GitLab API root (default CI_API_V4_URL)")
    parser.add_argument("--project", help="project ID or path (default CI_PROJECT_ID, CI_PROJECT_PATH)")
    parser.add_argument("--max-size", type=int, default=GENERIC_LIMIT,
                        help="the instance's generic_packages_max_file_size in bytes (default 5 GiB)")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, prog: str = "weights") -> int:
    env = os.environ if env is None else env
    with redacted_output(Redactor([env.get(name, "") for name in _TOKENS])) as redactor:
        try:
            options = _parser(prog).parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0)
        try:
            push(options, env, redactor)
            return 0
        except (ConfigError, RegistryError) as exc:  # the publisher's exit statuses: 2 usage, 1 registry
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ConfigError) else 1


def push(options: argparse.Namespace, env: Mapping[str, str], redactor: Redactor) -> None:
    lock_path, root = options.lock, options.root.resolve()
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        vouched = {lock["weights_sha256"], (lock.get("exported") or {}).get("sha256")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"lock {lock_path} cannot be read ({type(exc).__name__}); build once so the hook writes it") from None
    files = []
    for path in options.files:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; name the weights the lock records")
        size = path.stat().st_size
        if size > options.max_size:  # before anything is sent: GitLab would answer 400 "File is too large"
            raise ConfigError(f"{path.name} is {size / 2**30:.2f} GiB, above the generic registry's limit of "
                              f"{options.max_size / 2**30:g} GiB per file (generic_packages_max_file_size); "
                              "split the weights or ask the admin to raise the limit")
        sha = sha256_file(path)
        if sha not in vouched:
            raise ConfigError(f"{path} is not the file {lock_path} records (sha256 differs); rebuild first")
        files.append((path, size, sha))
    client = _client(options, env, redactor)
    version = "sha256-" + lock["weights_sha256"][:16]  # same weights, same URL
    references = dict(lock.get("references") or {})
    with client:
        for path, size, sha in files:
            served = client.generic_sha256(options.package, version, path.name, size=size)
            if served is None:
                client.generic_upload(path, options.package, version, path.name, sha)
            elif served != sha:
                raise RegistryError(f"{path.name} {version} (generic) already holds other bytes; delete it first")
            if client.generic_sha256(options.package, version, path.name, size=size, read_back=True) != sha:
                raise RegistryError(f"{path.name} {version} (generic): the registry serves other bytes than were sent")
            name = Path(os.path.relpath(path.resolve(), root)).as_posix()
            references[name] = {"url": client.generic_url(options.package, version, path.name), "sha256": sha,
                                "size": size}
            print(f"pushed {name} ({size / 2**20:.1f} MiB) to {references[name]['url']}")
    write_json_atomic(lock_path, dict(lock, references=dict(sorted(references.items()))))
    names = " ".join(sorted(references))
    print(f"{lock_path} now references them; take them out of git: `git rm --cached {names}` "
          "and list them in .gitignore (builds fetch them into the cache)")


def _client(options: argparse.Namespace, env: Mapping[str, str], redactor: Redactor) -> GitLabClient:
    url = options.url or env.get("CI_API_V4_URL")
    project = options.project or env.get("CI_PROJECT_ID") or env.get("CI_PROJECT_PATH")
    if not url:
        raise ConfigError("no GitLab URL: give --url or set CI_API_V4_URL")
    if not project:
        raise ConfigError("no GitLab project: give --project or set CI_PROJECT_ID or CI_PROJECT_PATH")
    credentials = resolve_credentials(env)
    redactor.add(credentials.secret_forms())
    return GitLabClient(url, project, credentials)
