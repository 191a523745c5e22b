"""Credentials, resolved once, and how each kind must be presented to each registry.

GitLab reads the same token differently per API: the generic registry takes ``JOB-TOKEN``/``PRIVATE-TOKEN``/
``DEPLOY-TOKEN`` headers, while the PyPI routes *silently ignore* ``JOB-TOKEN`` and want HTTP Basic
(``gitlab-ci-token:<job token>``; any user name with an access token; the deploy token's own user name).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote

from .errors import NO_TOKEN_HINT, ConfigError
from .redact import MIN_TOKEN_LENGTH

# Basic-auth user name for access tokens: GitLab ignores it, but pip/requests need one.
_ANY_USER = "gitlab-token"


@dataclass(frozen=True)
class Credentials:
    """One token and where it came from.  ``repr`` never shows the token."""

    kind: str  # "job" | "access" | "deploy" | "none"
    source: str  # the variable or flag to blame in messages, e.g. "CI_JOB_TOKEN"
    token: str = field(default="", repr=False)
    user: str = ""

    def describe(self) -> str:
        names = {"job": "job token", "access": "access token", "deploy": "deploy token"}
        return f"{names[self.kind]} from {self.source}" if self.kind in names else "anonymous caller"

    def generic_headers(self) -> dict[str, str]:
        """Headers for generic-registry requests (PUT accepts no Basic job token, so a header it is)."""
        header = {"job": "JOB-TOKEN", "access": "PRIVATE-TOKEN", "deploy": "DEPLOY-TOKEN"}.get(self.kind)
        return {header: self.token} if header else {}

    def pypi_auth(self) -> tuple[str, str] | None:
        """HTTP Basic for the PyPI routes, the only form they accept for job tokens."""
        user = {"job": "gitlab-ci-token", "access": _ANY_USER, "deploy": self.user}.get(self.kind)
        return (user, self.token) if user else None

    def secret_forms(self) -> list[str]:
        """Every spelling in which the token could reach text: raw, URL-quoted, inside a Basic header."""
        if not self.token:
            return []
        forms = {self.token, quote(self.token, safe="")}
        basic = self.pypi_auth()
        if basic:
            forms.add(base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode())
        return sorted(forms, key=len, reverse=True)


def resolve_credentials(env: Mapping[str, str], *, token: str | None = None, deploy_user: str | None = None,
                        deploy_token: str | None = None, required: bool = True) -> Credentials:
    """Pick one token: command-line flags first, then explicit variables, then the CI job token.

    ``CI_JOB_TOKEN`` comes last because GitLab sets it in every job: a user who also sets ``GITLAB_TOKEN`` or
    a deploy token as a CI variable has chosen that one on purpose.
    """
    return _long_enough(_choose(env, token, deploy_user, deploy_token, required))


def _choose(env: Mapping[str, str], token: str | None, deploy_user: str | None, deploy_token: str | None,
            required: bool) -> Credentials:
    if token and deploy_token:
        raise ConfigError("give either --token or --deploy-token, not both")
    deploy_user = deploy_user or env.get("GITLAB_DEPLOY_USER") or ""
    if deploy_token:
        return _deploy(deploy_user, deploy_token, "--deploy-token", "--deploy-user")
    if token:
        return Credentials("access", "--token", token)
    if env.get("GITLAB_DEPLOY_TOKEN"):
        return _deploy(deploy_user, env["GITLAB_DEPLOY_TOKEN"], "GITLAB_DEPLOY_TOKEN", "GITLAB_DEPLOY_USER")
    if env.get("GITLAB_TOKEN"):
        return Credentials("access", "GITLAB_TOKEN", env["GITLAB_TOKEN"])
    if env.get("CI_JOB_TOKEN"):
        return Credentials("job", "CI_JOB_TOKEN", env["CI_JOB_TOKEN"])
    if required:
        raise ConfigError(f"no GitLab token: {NO_TOKEN_HINT}")
    return Credentials("none", "no token")


def _long_enough(credentials: Credentials) -> Credentials:
    """A token of a few characters is a placeholder or a truncation, and masking it in all output would blot
    out every occurrence of those characters: refused, with its length only."""
    if credentials.kind != "none" and len(credentials.token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"the token from {credentials.source} is {len(credentials.token)} characters long; a real "
                          f"one has at least {MIN_TOKEN_LENGTH} (GitLab's have 20 or more): is it cut short?")
    return credentials


def _deploy(user: str, token: str, token_source: str, user_source: str) -> Credentials:
    if not user:
        raise ConfigError(f"a deploy token needs its user name (gitlab+deploy-token-N): set {user_source}")
    return Credentials("deploy", token_source, token, user)
