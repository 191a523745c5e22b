"""LocalGitLab: a GitLab-compatible package registry (generic + PyPI) and Releases API on a local port."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from .app import App
from .auth import DEPLOY_SCOPES, Tokens
from .context import API, Registry
from .faults import Fault
from .projects import Directory, Group, Project, Settings
from .store import Store
from .transport import HttpServer


class LocalGitLab:
    """A registry on `host:port` (0 = a free port) that answers like GitLab's package APIs.

    Packages are kept under `storage_dir` and survive a restart; projects, groups and tokens are set up
    by the caller each time. `external_url` is what the simple index's absolute links start with
    (GitLab's configured URL), by default the server's own URL. `pypi_forward`, a simple index URL such as
    https://pypi.org/simple, turns on GitLab's PyPI forwarding: a name no package of the project has is
    redirected there (off by default here, unlike GitLab).
    """

    def __init__(self, storage_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 external_url: str | None = None, pypi_forward: str | None = None):
        self.storage_dir = Path(storage_dir)
        self.settings = Settings()
        if pypi_forward:
            self.settings.pypi_forwarding, self.settings.pypi_upstream = True, pypi_forward
        self._registry = Registry(Directory(), Tokens(), Store(self.storage_dir), self.settings)
        self._host, self._port = host, port
        self._external_url = external_url
        self._http: HttpServer | None = None

    def start(self) -> LocalGitLab:
        if self._http is not None:
            raise RuntimeError("this LocalGitLab is already running")
        self._http = HttpServer(self._host, self._port, App(self._registry))
        self._registry.external_url = (self._external_url or self.url).rstrip("/")
        self._registry.stopping.clear()
        self._http.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._registry.stopping.set()  # ends injected delays at once
            self._http.stop()
            self._http = None

    def __enter__(self) -> LocalGitLab:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("LocalGitLab is not running: start it, or use it as a context manager")
        return f"http://{self._host}:{self._http.port}"

    @property
    def api_url(self) -> str:
        return self.url + API

    @property
    def requests(self) -> list[dict]:
        """Every request answered: {"method", "path", "query", "status", "auth", "via", "faults"}.

        "auth" names the caller ("personal_token:dev", "job_token:dev", "deploy_token:<user>", "anonymous",
        "invalid job_token"...) and "query" has token values redacted: no entry holds a token.
        """
        return self._registry.requests

    def add_project(self, project_id: int, path: str, visibility: str = "private") -> Project:
        return self._registry.directory.add_project(Project(int(project_id), path, visibility))

    def add_group(self, group_id: int, path: str, projects: Iterable[int] = ()) -> Group:
        return self._registry.directory.add_group(Group(int(group_id), path, tuple(int(p) for p in projects)))

    def add_personal_token(self, token: str, user: str, projects: Mapping[int, str]) -> None:
        """`projects` maps project id to role ("guest", "reporter", "developer"...); others: not a member."""
        self._registry.tokens.add_personal(token, user, projects)

    def add_job_token(self, token: str, user: str, projects: Mapping[int, str]) -> None:
        self._registry.tokens.add_job(token, user, projects)

    def add_deploy_token(self, username: str, token: str, projects: Iterable[int],
                         scopes: Iterable[str] = DEPLOY_SCOPES) -> None:
        self._registry.tokens.add_deploy(username, token, projects, scopes)

    def inject(self, fault: Fault) -> None:
        self._registry.faults.inject(fault)

    def clear_faults(self) -> None:
        self._registry.faults.clear()

    def add_tag(self, project_id: int, tag: str, ref: str = "main") -> str:
        """Create a tag (the emulator has no repository, only tag names); returns the commit SHA it points at."""
        return self._registry.releases.add_tag(int(project_id), tag, ref)

    def releases(self, project_id: int) -> list[dict]:
        """Every release of a project, oldest first: {tag_name, name, description, released_at, author,
        links: [{name, url, filepath, link_type}], newest link first}."""
        return [{"tag_name": r.tag, "name": r.name, "description": r.description, "released_at": r.released_at,
                 "author": r.author, "links": [{"name": link.name, "url": link.url, "filepath": link.filepath,
                                                "link_type": link.link_type} for link in r.links]}
                for r in self._registry.releases.releases(int(project_id))]

    def package_files(self, project_id: int, package_type: str, name: str, version: str) -> list[dict]:
        """Every file row of a package, duplicates included, oldest first: {file_name, sha256, size, created_at}."""
        package = self._registry.store.package(int(project_id), package_type, name, version)
        return [{"file_name": f.file_name, "sha256": f.file_sha256, "size": f.size, "created_at": f.created_at}
                for f in (package.files if package else ())]
