"""Who is calling, and may they: GitLab's auth_finders order and the package APIs' 401/403/404 rules.

The rules are GitLab's, including the surprising ones clients trip over: a JOB-TOKEN header is silently
ignored by the PyPI routes, a job token in Basic auth must come with the user name `gitlab-ci-token` and is
not read on a generic upload, an unknown token in Basic auth with another user name makes the caller
anonymous, and an authenticated caller who may not see a project gets 404 where an anonymous one gets 401.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from werkzeug.wrappers import Request

from .projects import ROLES, Directory, Group, Project
from .responses import ApiError, forbidden, not_found, unauthorized

PERSONAL, JOB, DEPLOY = "personal_token", "job_token", "deploy_token"  # the kinds of token
JOB_TOKEN_BASIC_USER = "gitlab-ci-token"
DEPLOY_SCOPES = ("read_package_registry", "write_package_registry")

# Where a route reads job tokens (GitLab's `job_token_allowed` route setting): "request" is the JOB-TOKEN
# header and job_token query parameter, "basic" is Basic auth as gitlab-ci-token. A job token as a Bearer
# token is read wherever job tokens are allowed at all, which is every package route.
JOB_TOKEN_IN_REQUEST = frozenset({"request"})
JOB_TOKEN_IN_BASIC = frozenset({"basic"})
JOB_TOKEN_ANYWHERE = JOB_TOKEN_IN_REQUEST | JOB_TOKEN_IN_BASIC
# The Releases API's routes: `job_token_allowed: true` without `deploy_token_allowed` or Basic auth, so a job
# token is read from JOB-TOKEN, job_token, token or Bearer, and a deploy token or Basic auth is not read at all.
JOB_TOKEN_API = frozenset({"request", "token_param", "no_package_auth"})


@dataclass(frozen=True)
class Identity:
    """An authenticated caller. `roles` maps project id to role; a project not in it is not the caller's."""

    kind: str  # PERSONAL, JOB or DEPLOY
    name: str
    roles: Mapping[int, str]
    via: str  # where the token came from: "header", "query", "bearer" or "basic"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def has_role(self, project: Project, least: str) -> bool:
        role = self.roles.get(project.id)
        return role is not None and ROLES.index(role) >= ROLES.index(least)


class InvalidToken(ApiError):
    """A token GitLab does not know where it expects one: 401 before anything else is looked at."""

    def __init__(self, kind: str):
        error = unauthorized()
        super().__init__(error.status, error.body, error.headers)
        self.kind = kind


class Tokens:
    """Personal access tokens, CI job tokens and deploy tokens, and the lookup of a request's caller."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Identity]] = {PERSONAL: {}, JOB: {}, DEPLOY: {}}

    def add_personal(self, token: str, user: str, projects: Mapping[int, str]) -> None:
        self._add(token, Identity(PERSONAL, user, _checked_roles(projects), ""))

    def add_job(self, token: str, user: str, projects: Mapping[int, str]) -> None:
        self._add(token, Identity(JOB, user, _checked_roles(projects), ""))

    def add_deploy(self, username: str, token: str, projects: Iterable[int], scopes: Iterable[str]) -> None:
        """A deploy token acts on its projects like a member whose role its scopes imply: write scope =
        Developer (upload and download), read scope = Reporter (download only)."""
        scopes = set(scopes)
        unknown = scopes - set(DEPLOY_SCOPES)
        if unknown:
            raise ValueError(f"unknown deploy token scopes {sorted(unknown)}; use {DEPLOY_SCOPES}")
        role = "developer" if "write_package_registry" in scopes else "reporter" if scopes else None
        roles = {int(pid): role for pid in projects} if role else {}
        self._add(token, Identity(DEPLOY, username, roles, ""))

    def _add(self, token: str, identity: Identity) -> None:
        if not token:
            raise ValueError(f"empty token for {identity.label}")
        self._tables[identity.kind][token] = identity

    def identify(self, request: Request, job_token_where: frozenset[str]) -> Identity | None:
        """The caller of `request`, in the order of GitLab's find_user_from_sources; None = anonymous.

        Raises InvalidToken where GitLab answers 401 for a token it does not know.
        """
        auth = request.authorization
        basic = auth if auth is not None and auth.type == "basic" else None
        bearer = auth.token if auth is not None and auth.type == "bearer" else None
        deploy, job, personal = self._tables[DEPLOY], self._tables[JOB], self._tables[PERSONAL]
        if "no_package_auth" in job_token_where:
            basic = None

        # 1. Deploy token, from its header or as a Basic password with any user name; unknown = anonymous.
        if "no_package_auth" not in job_token_where and request.headers.get("Deploy-Token") in deploy:
            return self._found(DEPLOY, request.headers["Deploy-Token"], "header")
        if basic is not None and basic.password in deploy:
            return self._found(DEPLOY, basic.password, "basic")
        # 2. Job token as a Bearer token.
        if bearer in job:
            return self._found(JOB, bearer, "bearer")
        # 3. Personal access token from header, query or Bearer: an unknown one is refused.
        for token, via in ((request.headers.get("Private-Token"), "header"),
                           (request.args.get("private_token"), "query"), (bearer, "bearer")):
            if token:
                return self._found(PERSONAL, token, via)
        if basic is not None:
            # 4. Personal access token as a Basic password, any user name; unknown = keep looking.
            if basic.password in personal:
                return self._found(PERSONAL, basic.password, "basic")
            # 5. Job token in Basic auth, only as gitlab-ci-token and only where the route allows it.
            if basic.username == JOB_TOKEN_BASIC_USER and "basic" in job_token_where:
                return self._found(JOB, basic.password or "", "basic")
        # 6. Job token from the JOB-TOKEN header or job_token (Releases API: or token) parameter, where allowed.
        if "request" in job_token_where:
            params = ("job_token", "token") if "token_param" in job_token_where else ("job_token",)
            for token, via in ((request.headers.get("Job-Token"), "header"),
                               *((request.args.get(name), "query") for name in params)):
                if token:
                    return self._found(JOB, token, via)
        return None

    def _found(self, kind: str, token: str, via: str) -> Identity:
        identity = self._tables[kind].get(token)
        if identity is None:
            raise InvalidToken(kind)
        return replace(identity, via=via)


def _checked_roles(projects: Mapping[int, str]) -> dict[int, str]:
    bad = {pid: role for pid, role in projects.items() if role not in ROLES}
    if bad:
        raise ValueError(f"unknown roles {bad}; use one of {ROLES}")
    return {int(pid): role for pid, role in projects.items()}


def can_read(identity: Identity | None, project: Project) -> bool:
    """:read_project and :read_package, which coincide here: public, or any role (Guest included)."""
    return project.public or (identity is not None and identity.has_role(project, "guest"))


def can_upload(identity: Identity | None, project: Project) -> bool:
    """:create_package: Developer and above, or a deploy token with write_package_registry."""
    return identity is not None and identity.has_role(project, "developer")


def _unauthorized_or(identity: Identity | None, error: ApiError) -> ApiError:
    """GitLab's `unauthorized_or!`: an anonymous caller is asked to log in, anyone else gets `error`."""
    return unauthorized() if identity is None else error


def authorized_project(directory: Directory, identity: Identity | None, segment: str, *,
                       upload: bool, unknown_is_404: bool) -> Project:
    """BasicAuthHelpers#authorized_project_find! then #authorize!(:create_package) for uploads.

    `unknown_is_404`: the PyPI routes first call `project!`, which answers 404 for an unknown project even
    to anonymous callers; the generic routes answer 401 to them.
    """
    project = directory.find_project(segment)
    if project is None and unknown_is_404:
        raise not_found()
    if project is None or not can_read(identity, project):
        raise _unauthorized_or(identity, not_found())
    if upload and not can_upload(identity, project):
        raise _unauthorized_or(identity, forbidden())
    return project


def authorized_group(directory: Directory, identity: Identity | None, segment: str) -> tuple[Group, list[Project]]:
    """`ensure_group!` of the group-level PyPI routes: the group and those of its projects the caller may read.

    A caller may see a group when it may read one of its projects (GitLab grants :read_group to members of
    a descendant project, and a group with a public project is itself public).
    """
    group = directory.find_group(segment)
    if group is None:
        raise not_found()
    readable = [project for project in directory.projects_of(group) if can_read(identity, project)]
    if not readable:
        raise _unauthorized_or(identity, not_found())
    return group, readable


def release_project(directory: Directory, identity: Identity | None, segment: str) -> Project:
    """`user_project` of the Releases API: a project the caller may not see is 404 even to anonymous callers."""
    project = directory.find_project(segment)
    if project is None or not can_read(identity, project):
        raise not_found("Project")
    return project


def can_read_code(identity: Identity | None, project: Project) -> bool:
    """:read_code / :download_code: public, or Reporter and above."""
    return project.public or (identity is not None and identity.has_role(project, "reporter"))
