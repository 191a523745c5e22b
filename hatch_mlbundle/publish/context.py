"""What the targets of one run share: the settings, and one GitLab client, opened when first asked for.

:class:`Settings` is plain data, made by ``settings.load_settings``; it lives here, below the targets, so that a
target can name it without the targets and the settings (which check target names) importing each other.

PyPI and generic are two registries of one GitLab project, so one client serves both: credentials resolved
once, one connection pool, one retry policy.  It is made on a target's first request, so a target that needs no
GitLab (a folder, another server) runs with no URL, project or token set, and no session is ever opened for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..gitlab import ConfigError, GitLabClient, RetryPolicy, resolve_credentials

TABLE = "[tool.mlbundle.publish]"


@dataclass(frozen=True)
class Settings:
    """Every option of one run, resolved (flag, variable, pyproject, default) and typed; tokens never shown."""

    root: Path
    dist: Path
    url: str | None  # checked when a target asks for GitLab: a target of another kind needs none
    project: str | None
    registries: tuple[str, ...]  # target names, checked and in publishing order
    generic_package: str | None
    generic_files: tuple[str, ...]
    policy: RetryPolicy
    allow_generic_overwrite: bool = False
    dry_run: bool = False
    quiet: bool = False
    verbose: bool = False
    token: str | None = field(default=None, repr=False)
    deploy_user: str | None = None
    deploy_token: str | None = field(default=None, repr=False)
    notify_urls: tuple[str, ...] = field(default=(), repr=False)  # apprise URLs: they hold webhook secrets
    notify_dev: bool = False  # dev builds notify too


class RunContext:
    """``secrets`` is told every spelling of the token once it is known, to mask it in all output."""

    def __init__(self, settings: Settings, env: Mapping[str, str], *,
                 secrets: Callable[[Iterable[str]], None] = lambda forms: None):
        self.settings = settings
        self.env = env
        self._secrets = secrets
        self._gitlab: GitLabClient | None = None

    def gitlab(self) -> GitLabClient:
        """The run's one GitLab client; a missing URL, project or token is a :class:`ConfigError` here."""
        if self._gitlab is None:
            settings = self.settings
            if not settings.url:
                raise ConfigError("no GitLab URL: set CI_API_V4_URL, give --url, or set url in " + TABLE)
            if not settings.project:
                raise ConfigError("no GitLab project: set CI_PROJECT_ID or CI_PROJECT_PATH, or give --project")
            credentials = resolve_credentials(self.env, token=settings.token, deploy_user=settings.deploy_user,
                                              deploy_token=settings.deploy_token, required=not settings.dry_run)
            self._secrets(credentials.secret_forms())
            self._gitlab = GitLabClient(settings.url, settings.project, credentials, policy=settings.policy,
                                        progress=not settings.quiet)
        return self._gitlab

    def close(self) -> None:
        if self._gitlab is not None:
            self._gitlab.close()

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
