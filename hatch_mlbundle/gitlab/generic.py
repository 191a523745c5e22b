"""The generic package registry's half of :class:`~.client.GitLabClient`: PUT a file, and what the registry
serves under a name (its checksum header, or the bytes themselves, hashed as they stream in).

A mixin: it uses the client's session, credentials and error advice, and knows nothing of what is published.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from tqdm.utils import CallbackIOWrapper

from .bodies import Body
from .errors import RegistryError


class GenericRegistry:
    def generic_url(self, package: str, version: str, file_name: str) -> str:
        segments = (quote(part, safe="") for part in (package, version, file_name))
        return f"{self.project_url}/packages/generic/" + "/".join(segments)

    def generic_sha256(self, package: str, version: str, file_name: str, *, size: int, retry: bool = True,
                       read_back: bool = False) -> str | None:
        """sha256 of the file the registry serves now, or ``None`` if it has none.

        ``read_back``: hash the bytes served (what "verified" rests on).  Otherwise the server's own
        ``X-Checksum-SHA256`` (GitLab computes it from what it stored) is enough to compare before an upload; it
        is missing behind object storage, and then the body is hashed as it streams in.  ``size`` is the size
        of the local file: a body is never read past it.
        """
        url = self.generic_url(package, version, file_name)
        target = f"{file_name} {version} (generic)"
        found: dict[str, str] = {}

        def attempt():
            response = self._get_file(url, headers=self.credentials.generic_headers())
            with closing(response):  # closing early: no need to download a multi-GiB body we have a hash for
                if response.status_code == 200:
                    checksum = "" if read_back else response.headers.get("X-Checksum-SHA256", "").lower()
                    found["sha256"] = checksum or self._served_sha256(response, size)
                else:
                    self._read_error(response)
            return response

        response = self.session.call(f"checking {target}", attempt, retry=retry)
        if response.status_code == 404 and not self._project_missing(response):
            return None
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        return found["sha256"]

    def generic_read(self, package: str, version: str, file_name: str, *, limit: int) -> bytes | None:
        """A small file's bytes (at most ``limit``: a bigger one is an error), ``None`` if the registry has none."""
        url = self.generic_url(package, version, file_name)
        target = f"{file_name} {version} (generic)"
        found: dict[str, bytes] = {}

        def attempt():
            response = self._get_file(url, headers=self.credentials.generic_headers())
            with closing(response):
                body = Body(response, limit + 1, self.session.policy.timeout)
                found["bytes"] = b"".join(body)
            response._content, response._content_consumed = found["bytes"][:limit], True  # for error messages
            return response

        response = self.session.call(f"reading {target}", attempt)
        if response.status_code == 404 and not self._project_missing(response):
            return None
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        if len(found["bytes"]) > limit:
            raise RegistryError(f"{target}: larger than {limit >> 10} KiB, which such a file never is")
        return found["bytes"]

    def generic_upload(self, path: Path, package: str, version: str, file_name: str, sha256: str) -> None:
        """PUT the file (streamed).  The answer is not evidence of what was stored: read it back afterwards with
        ``generic_sha256(..., read_back=True)``."""
        url = self.generic_url(package, version, file_name)
        target = f"{file_name} {version} (generic)"
        size = path.stat().st_size
        with self.session.progress_bar(file_name, size) as bar:
            def attempt():
                bar.reset(total=size)
                with open(path, "rb") as stream:
                    # requests sizes the body from fileno(), so it goes out with Content-Length, not chunked
                    body = CallbackIOWrapper(bar.update, stream, "read")
                    return self.session.request("PUT", url, data=body, headers=self.credentials.generic_headers())

            response = self.session.call(
                f"uploading {target}", attempt,
                landed=lambda: self.generic_sha256(package, version, file_name, size=size, retry=False) == sha256)
        if response is not None and response.status_code not in (200, 201):
            raise self._fail(response, target, writing=True)
