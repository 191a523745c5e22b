"""Package storage on disk: file contents named by their SHA-256, and an sqlite database of packages.

An upload is streamed to a temporary file beside the contents while its SHA-256 is computed, and is
renamed into place and recorded only once it is complete and admitted, so an upload cut off mid-body
leaves nothing behind. The database outlives the server, so a restarted server keeps its packages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

COPY_CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, package_type TEXT NOT NULL, name TEXT NOT NULL,
    version TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (project_id, package_type, name, version));
CREATE TABLE IF NOT EXISTS package_files (
    id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages (id), file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, requires_python TEXT NOT NULL,
    created_at TEXT NOT NULL);
"""


class FileTooLarge(Exception):
    """The file went over the size limit while it was being received."""


@dataclasses.dataclass(frozen=True)
class StoredFile:
    id: int
    package_id: int
    file_name: str
    file_sha256: str  # the recorded checksum: computed for generic files, as the client sent it for PyPI
    blob: str  # SHA-256 of the bytes on disk, which names them
    size: int
    requires_python: str
    created_at: str


@dataclasses.dataclass(frozen=True)
class StoredPackage:
    id: int
    project_id: int
    package_type: str
    name: str
    version: str
    status: str
    created_at: str
    files: tuple[StoredFile, ...]


class Upload:
    """A file being received: a temporary file that hashes, counts and limits what is written to it."""

    def __init__(self, directory: Path, limit: int | None):
        descriptor, name = tempfile.mkstemp(dir=directory, suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(descriptor, "wb")
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.limit = limit

    def write(self, data) -> int:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise FileTooLarge(f"over {self.limit} bytes")
        self._sha256.update(data)
        return self._file.write(data)

    def copy_from(self, stream) -> Upload:
        """Stream `stream` in, one reused buffer at a time: a file of any size costs COPY_CHUNK of memory."""
        buffer = bytearray(COPY_CHUNK)
        view = memoryview(buffer)
        while count := stream.readinto(buffer):
            self.write(view[:count])
        return self

    def seek(self, offset: int, whence: int = 0) -> int:
        """werkzeug's multipart parser rewinds each file part it has written; nothing reads it back."""
        return 0

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        self._file.close()


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._incoming = self.root / "incoming"
        self._database = self.root / "registry.sqlite3"
        self._lock = threading.Lock()  # one writer at a time keeps "check for a duplicate, then add" atomic
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(exist_ok=True)
        for leftover in self._incoming.iterdir():  # uploads cut off by a crash of a previous run
            leftover.unlink()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self._database, timeout=30)
        connection.row_factory = sqlite3.Row
        # Write-ahead log without a sync per commit: a crash may lose the last uploads, never the database.
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        try:
            with connection:  # commits, or rolls back on an exception
                yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def transaction(self, schema: str = "") -> Iterator[sqlite3.Connection]:
        """One write transaction under the store's lock, for records other modules keep beside the packages
        (releases): the same database, so they outlive the server too. `schema` is created first if missing."""
        with self._lock, self._connect() as db:
            if schema:
                db.executescript(schema)
            yield db

    @contextlib.contextmanager
    def receiving(self) -> Iterator[Callable[[int | None], Upload]]:
        """Yields a factory of Uploads (with a size limit); whatever was not added is deleted at the end."""
        uploads: list[Upload] = []

        def new_upload(limit: int | None) -> Upload:
            uploads.append(Upload(self._incoming, limit))
            return uploads[-1]

        try:
            yield new_upload
        finally:
            for upload in uploads:
                upload.close()
                upload.path.unlink(missing_ok=True)

    def add_file(self, *, project_id: int, package_type: str, name: str, version: str, file_name: str,
                 upload: Upload, file_sha256: str | None = None, requires_python: str = "",
                 status: str | None = None,
                 admit: Callable[[list[StoredFile]], None] = lambda same_name: None) -> StoredFile:
        """Add `upload` to the package (project, type, name, version), creating the package if needed.

        `admit` sees the package's files of the same name and raises to refuse the upload; it runs under
        the store's lock, so two uploads of the same file cannot both pass it. `status`, when given,
        becomes the package's status (GitLab updates an existing package's status too).
        """
        upload.close()
        now = _now()
        with self._lock, self._connect() as db:
            package = self._find_package(db, project_id, package_type, name, version)
            admit([f for f in package.files if f.file_name == file_name] if package else [])
            if package is None:
                package_id = db.execute(
                    "INSERT INTO packages (project_id, package_type, name, version, status, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (project_id, package_type, name, version, status or "default", now)).lastrowid
            else:
                package_id = package.id
                if status and status != package.status:
                    db.execute("UPDATE packages SET status = ? WHERE id = ?", (status, package_id))
            target = self.blob_path(upload.sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(upload.path, target)
            stored = StoredFile(0, package_id, file_name, file_sha256 or upload.sha256, upload.sha256, upload.size,
                                requires_python, now)
            file_id = db.execute(
                "INSERT INTO package_files (package_id, file_name, file_sha256, blob, size, requires_python,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (package_id, file_name, stored.file_sha256, stored.blob, stored.size, requires_python, now)).lastrowid
        return dataclasses.replace(stored, id=file_id)

    # Reads take no lock: each runs in its own sqlite transaction and sees whole uploads or none.
    def package(self, project_id: int, package_type: str, name: str, version: str) -> StoredPackage | None:
        with self._connect() as db:
            return self._find_package(db, project_id, package_type, name, version)

    def packages(self, project_ids: Iterable[int], package_type: str, status: str) -> list[StoredPackage]:
        """The packages of a type and status in these projects, oldest first, each with its files."""
        ids = list(project_ids)
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM packages WHERE package_type = ? AND status = ?"
                f" AND project_id IN ({', '.join('?' * len(ids))}) ORDER BY id", (package_type, status, *ids)).fetchall()
            return self._with_files(db, rows)

    def blob_path(self, blob: str) -> Path:
        return self._blobs / blob[:2] / blob

    def _find_package(self, db: sqlite3.Connection, project_id: int, package_type: str, name: str,
                      version: str) -> StoredPackage | None:
        rows = db.execute(
            "SELECT * FROM packages WHERE project_id = ? AND package_type = ? AND name = ? AND version = ?",
            (project_id, package_type, name, version)).fetchall()
        found = self._with_files(db, rows)
        return found[0] if found else None

    @staticmethod
    def _with_files(db: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[StoredPackage]:
        files: dict[int, list[StoredFile]] = {row["id"]: [] for row in rows}
        if files:
            for row in db.execute(
                    f"SELECT * FROM package_files WHERE package_id IN ({', '.join('?' * len(files))}) ORDER BY id",
                    list(files)):
                files[row["package_id"]].append(StoredFile(**dict(row)))
        return [StoredPackage(**dict(row), files=tuple(files[row["id"]])) for row in rows]


def _now() -> str:
    """GitLab's JSON time format: UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
