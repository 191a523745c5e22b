"""Tags, releases and release links, kept in the package store's database so they outlive the server.

The emulator has no git repository: a project's tags are a set of names, each with the commit it points
at (the `ref` it was created from when that is a SHA, else a SHA derived from the project and ref).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3

from .store import Store, _now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (
    project_id INTEGER NOT NULL, name TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (project_id, name));
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, tag TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT, author TEXT, sha TEXT NOT NULL, created_at TEXT NOT NULL, released_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE (project_id, tag));
CREATE TABLE IF NOT EXISTS release_links (
    id INTEGER PRIMARY KEY, release_id INTEGER NOT NULL REFERENCES releases (id), name TEXT NOT NULL,
    url TEXT NOT NULL, filepath TEXT, link_type TEXT NOT NULL, created_at TEXT NOT NULL);
"""
RELEASE_FIELDS = ("name", "description", "released_at")
LINK_FIELDS = ("name", "url", "filepath", "link_type")


@dataclasses.dataclass(frozen=True)
class Link:
    id: int
    release_id: int
    name: str
    url: str
    filepath: str | None
    link_type: str
    created_at: str


@dataclasses.dataclass(frozen=True)
class Release:
    id: int
    project_id: int
    tag: str
    name: str
    description: str | None
    author: str | None
    sha: str
    created_at: str
    released_at: str
    updated_at: str
    links: tuple[Link, ...]  # newest first, as GitLab's `links.sorted`


class ReleaseStore:
    def __init__(self, store: Store):
        self._store = store
        with store.transaction(_SCHEMA):
            pass

    def tag_sha(self, project_id: int, tag: str) -> str | None:
        with self._store.transaction() as db:
            row = db.execute("SELECT sha FROM tags WHERE project_id = ? AND name = ?", (project_id, tag)).fetchone()
        return row["sha"] if row else None

    def add_tag(self, project_id: int, tag: str, ref: str = "main") -> str:
        sha = ref.lower() if len(ref) == 40 and all(c in "0123456789abcdefABCDEF" for c in ref) else \
            hashlib.sha1(f"{project_id}:{ref}".encode()).hexdigest()
        with self._store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO tags (project_id, name, sha) VALUES (?, ?, ?)", (project_id, tag, sha))
        return self.tag_sha(project_id, tag) or sha

    def releases(self, project_id: int) -> list[Release]:
        """Every release of the project, oldest first."""
        with self._store.transaction() as db:
            rows = db.execute("SELECT * FROM releases WHERE project_id = ? ORDER BY id", (project_id,)).fetchall()
            return [self._with_links(db, row) for row in rows]

    def release(self, project_id: int, tag: str) -> Release | None:
        return next((release for release in self.releases(project_id) if release.tag == tag), None)

    def create(self, project_id: int, tag: str, sha: str, author: str | None, fields: dict,
               links: list[dict]) -> Release | None:
        """The new release, or None when the tag already has one (checked under the store's lock)."""
        now = _now()
        with self._store.transaction() as db:
            try:
                release_id = db.execute(
                    "INSERT INTO releases (project_id, tag, name, description, author, sha, created_at, released_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (project_id, tag, fields.get("name") or tag, fields.get("description"), author, sha, now,
                     fields.get("released_at") or now, now)).lastrowid
            except sqlite3.IntegrityError:
                return None
            for link in links:
                self._insert_link(db, release_id, link, now)
        return self.release(project_id, tag)

    def update(self, release: Release, fields: dict) -> Release:
        changes = {key: value for key, value in fields.items() if key in RELEASE_FIELDS}
        with self._store.transaction() as db:
            for key, value in changes.items():
                db.execute(f"UPDATE releases SET {key} = ? WHERE id = ?", (value, release.id))
            db.execute("UPDATE releases SET updated_at = ? WHERE id = ?", (_now(), release.id))
        return self.release(release.project_id, release.tag)

    def delete(self, release: Release) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM release_links WHERE release_id = ?", (release.id,))
            db.execute("DELETE FROM releases WHERE id = ?", (release.id,))

    def add_link(self, release: Release, link: dict) -> Link:
        with self._store.transaction() as db:
            link_id = self._insert_link(db, release.id, link, _now())
            self._touch(db, release)
        return self.link(release, link_id)

    def update_link(self, release: Release, link: Link, fields: dict) -> Link:
        with self._store.transaction() as db:
            for key in LINK_FIELDS:
                if key in fields:
                    db.execute(f"UPDATE release_links SET {key} = ? WHERE id = ?", (fields[key], link.id))
            self._touch(db, release)
        return self.link(release, link.id)

    def delete_link(self, release: Release, link: Link) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM release_links WHERE id = ?", (link.id,))
            self._touch(db, release)

    def link(self, release: Release, link_id: int) -> Link | None:
        fresh = self.release(release.project_id, release.tag)
        return next((link for link in fresh.links if link.id == link_id), None) if fresh else None

    @staticmethod
    def _insert_link(db: sqlite3.Connection, release_id: int, link: dict, now: str) -> int:
        return db.execute(
            "INSERT INTO release_links (release_id, name, url, filepath, link_type, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (release_id, link["name"], link["url"], link.get("filepath"), link.get("link_type") or "other",
             now)).lastrowid

    @staticmethod
    def _touch(db: sqlite3.Connection, release: Release) -> None:
        db.execute("UPDATE releases SET updated_at = ? WHERE id = ?", (_now(), release.id))  # belongs_to touch: true

    @staticmethod
    def _with_links(db: sqlite3.Connection, row: sqlite3.Row) -> Release:
        links = db.execute("SELECT * FROM release_links WHERE release_id = ? ORDER BY created_at DESC, id DESC",
                           (row["id"],)).fetchall()
        return Release(**dict(row), links=tuple(Link(**dict(link)) for link in links))
