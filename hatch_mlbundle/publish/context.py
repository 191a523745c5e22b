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
from typing import Any, Mapping

from ..gitlab import ConfigError, GitLabClient, Redactor, RetryPolicy, resolve_credentials

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
    tag: str | None = None  # the tag being released (CI_COMMIT_TAG): must name the built version
    max_accuracy_drop: float = 0.5  # percentage points a release may lose against the previous one
    max_latency_increase: float = 50.0  # percent a release's latency may grow against the previous one
    allow_regression: bool = False


class RunContext:
    """``redactor`` is told every spelling of the token once it is known, to mask it in all output.

    The run also leaves here what later steps read: ``history`` (this version and the previous release) and
    ``planned`` (the items of the targets before the one being planned).
    """

    def __init__(self, settings: Settings, env: Mapping[str, str], *, redactor: Redactor | None = None):
        self.settings = settings
        self.env = env
        self.redactor = redactor or Redactor()
        self._gitlab: GitLabClient | None = None
        # set by the run (typed loosely: this module sits below the modules that define them)
        self.history: Any = None  # history.History
        self.planned: list[Any] = []  # targets.Item

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
            self.redactor.add(credentials.secret_forms())
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
