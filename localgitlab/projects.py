"""Projects, groups and instance settings: what a GitLab instance keeps in its database and admin pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

# Ordered: a role includes every permission of the roles before it.
ROLES = ("guest", "reporter", "developer", "maintainer", "owner")
VISIBILITIES = ("private", "public")


@dataclass(frozen=True)
class _Namespace:
    id: int
    path: str  # full path, "group/sub/project"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Project(_Namespace):
    visibility: str = "private"

    @property
    def public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True)
class Group(_Namespace):
    project_ids: tuple[int, ...] = ()


@dataclass
class Settings:
    """Instance and namespace settings that change what the package APIs answer.

    GitLab keeps the duplicate settings per top-level namespace and the size limits per plan; one local
    instance needs only one of each, so they are instance-wide here.
    """

    generic_duplicates_allowed: bool = True
    generic_duplicate_exception_regex: str = ""
    generic_max_file_size: int = 5 * 2**30
    pypi_max_file_size: int = 3 * 2**30
    pypi_forwarding: bool = False  # GitLab's "Forward PyPI package requests" (on by default there)
    pypi_upstream: str = "https://pypi.org/simple"  # where forwarding sends a miss (GitLab: always pypi.org)

    def generic_duplicate_allowed(self, name: str, version: str) -> bool:
        """GitLab's newest rule: when duplicates are allowed the regex lists the exceptions that may NOT be
        duplicated, when they are not allowed it lists the ones that may (MR !165467)."""
        pattern = self.generic_duplicate_exception_regex
        matched = bool(pattern) and any(re.fullmatch(pattern, value) for value in (name, version))
        return not matched if self.generic_duplicates_allowed else matched


class Directory:
    """Projects and groups, found the way GitLab resolves an `:id` route segment (numeric id or full path)."""

    def __init__(self) -> None:
        self._projects: dict[int, Project] = {}
        self._groups: dict[int, Group] = {}

    def add_project(self, project: Project) -> Project:
        if project.visibility not in VISIBILITIES:
            raise ValueError(f"project visibility must be one of {VISIBILITIES}, not {project.visibility!r}")
        self._projects[project.id] = project
        return project

    def add_group(self, group: Group) -> Group:
        unknown = [pid for pid in group.project_ids if pid not in self._projects]
        if unknown:
            raise ValueError(f"group {group.path!r} lists unknown project ids {unknown}: add the projects first")
        self._groups[group.id] = group
        return group

    def find_project(self, segment: str) -> Project | None:
        return _find(self._projects, segment)

    def find_group(self, segment: str) -> Group | None:
        return _find(self._groups, segment)

    def projects_of(self, group: Group) -> list[Project]:
        return [self._projects[pid] for pid in group.project_ids]


def _find(items: dict, segment: str):
    """`segment` is the raw URL segment: a number, or a full path whose slashes are encoded as %2F."""
    if segment.isdigit():
        return items.get(int(segment))
    path = unquote(segment).lower()  # GitLab's find_by_full_path ignores case
    return next((item for item in list(items.values()) if item.path.lower() == path), None)  # a snapshot: set-up may run meanwhile

