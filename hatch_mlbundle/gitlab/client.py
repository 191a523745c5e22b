"""GitLab's generic and PyPI package registries of one project, over one session.

Knows GitLab's URLs, auth forms and answers; knows nothing of what is being published.
Every upload streams from disk, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import html.parser
import json
import re
from contextlib import closing
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from tqdm.utils import CallbackIOWrapper

from ..files import CHUNK, digest_chunks
from .auth import Credentials
from .errors import ConfigError, RegistryError, explain, server_message
from .session import RegistrySession, RetryPolicy


def api_url_from(url: str) -> str:
    """Accept the server URL or the API root (``CI_SERVER_URL`` or ``CI_API_V4_URL``); return the API root."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("the GitLab URL must look like https://gitlab.example.com/api/v4 "
                          "(set CI_API_V4_URL or --url)")
    if parts.username or parts.password:  # the URL itself would then leak into every message
        raise ConfigError("the GitLab URL must not contain credentials; give the token with --token or GITLAB_TOKEN")
    url = url.rstrip("/")
    return url if url.endswith("/api/v4") else url + "/api/v4"


def project_id_from(project: str) -> str:
    """A numeric ID as is; a ``group/sub/project`` path URL-encoded, since an unencoded ``/`` is a 404."""
    project = project.strip().strip("/")
    if not project:
        raise ConfigError("no GitLab project: set CI_PROJECT_ID or CI_PROJECT_PATH, or give --project")
    return quote(unquote(project), safe="")


def normalize_name(name: str) -> str:
    """PEP 503 form, the only one GitLab's simple index finds reliably."""
    return re.sub(r"[-_.]+", "-", name).lower()


class _SimpleIndexLinks(html.parser.HTMLParser):
    """Collects ``file name -> sha256`` from a PEP 503 versions page (``<a href="...#sha256=H">name</a>``)."""

    def __init__(self):
        super().__init__()
        self.files: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data):
        if self._href is not None and data.strip():
            fragment = urlsplit(self._href).fragment
            self.files[data.strip()] = fragment.partition("sha256=")[2].lower()

    def handle_endtag(self, tag):
        if tag == "a":
            self._href = None


class GitLabClient:
    """The package registries of one project, with the credentials resolved once."""

    def __init__(self, api_url: str, project: str, credentials: Credentials, *,
                 policy: RetryPolicy = RetryPolicy(), progress: bool = False):
        self.api_url = api_url_from(api_url)
        self.project = project_id_from(project)
        self.credentials = credentials
        self.session = RegistrySession(policy, progress=progress)

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def project_url(self) -> str:
        return f"{self.api_url}/projects/{self.project}"

    def _fail(self, response: requests.Response, target: str, *, writing: bool) -> RegistryError:
        return explain(response, target=target, project=unquote(self.project), credentials=self.credentials,
                       writing=writing)

    @staticmethod
    def _project_missing(response: requests.Response) -> bool:
        """Tell "project not visible" from "file not there": both are 404, only the message differs."""
        return "project" in server_message(response).lower()

    # -- generic registry ------------------------------------------------------------------------------------

    def generic_url(self, package: str, version: str, file_name: str) -> str:
        segments = (quote(part, safe="") for part in (package, version, file_name))
        return f"{self.project_url}/packages/generic/" + "/".join(segments)

    def generic_sha256(self, package: str, version: str, file_name: str, *, retry: bool = True) -> str | None:
        """sha256 of the file the registry serves now, or ``None`` if it has none.

        GitLab sends ``X-Checksum-SHA256`` only when it serves the file itself; behind object storage it
        redirects instead, and then the body is hashed as it streams in.
        """
        url = self.generic_url(package, version, file_name)
        target = f"{file_name} {version} (generic)"
        found: dict[str, str] = {}

        def attempt():
            response = self.session.request("GET", url, headers=self.credentials.generic_headers(), stream=True)
            if response.is_redirect:  # signed object-storage URL: it needs no token, so send none
                response.close()
                response = self.session.request("GET", urljoin(url, response.headers["Location"]), stream=True)
            with closing(response):  # closing early: no need to download a multi-GiB body we have a hash for
                if response.status_code == 200:
                    found["sha256"] = (response.headers.get("X-Checksum-SHA256", "").lower()
                                       or digest_chunks(response.iter_content(CHUNK))["sha256"])
                else:
                    response.content  # noqa: B018 - keep the small error body for the message
            return response

        response = self.session.call(f"checking {target}", attempt, retry=retry)
        if response.status_code == 404 and not self._project_missing(response):
            return None
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        return found["sha256"]

    def generic_upload(self, path: Path, package: str, version: str, file_name: str, sha256: str) -> str | None:
        """PUT the file (streamed); return the sha256 the registry's answer names, for the caller to compare.

        ``None`` when it names none (an older GitLab answers a bare 201): then ask :meth:`generic_sha256`.
        """
        url = self.generic_url(package, version, file_name)
        target = f"{file_name} {version} (generic)"
        size = path.stat().st_size
        with self.session.progress_bar(file_name, size) as bar:
            def attempt():
                bar.reset(total=size)
                with open(path, "rb") as stream:
                    # requests sizes the body from fileno(), so it goes out with Content-Length, not chunked
                    body = CallbackIOWrapper(bar.update, stream, "read")
                    return self.session.request("PUT", url, params={"select": "package_file"}, data=body,
                                                headers=self.credentials.generic_headers())

            response = self.session.call(
                f"uploading {target}", attempt,
                landed=lambda: self.generic_sha256(package, version, file_name, retry=False) == sha256)
        if response is None:
            return sha256
        if response.status_code not in (200, 201):
            raise self._fail(response, target, writing=True)
        try:
            reported = json.loads(response.content).get("file_sha256")
        except (ValueError, AttributeError):
            reported = None
        return reported.lower() if reported else None

    # -- PyPI registry ---------------------------------------------------------------------------------------

    def pypi_simple_url(self, name: str) -> str:
        return f"{self.project_url}/packages/pypi/simple/{normalize_name(name)}"

    def pypi_files(self, name: str, *, retry: bool = True) -> dict[str, str]:
        """``file name -> sha256`` of every file of the distribution in the project's index."""
        target = f"{name} (PyPI index)"
        response = self.session.call(
            f"reading {target}",
            lambda: self.session.request("GET", self.pypi_simple_url(name), auth=self.credentials.pypi_auth()),
            retry=retry)
        if response.is_redirect:  # "forward to pypi.org" is on: the name is simply not in this project
            return {}
        if response.status_code == 404 and not self._project_missing(response):
            return {}
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        links = _SimpleIndexLinks()
        links.feed(response.text)
        return links.files

    def pypi_upload(self, path: Path, fields: list[tuple[str, str]], name: str, sha256: str) -> None:
        """POST one distribution file as twine does; the answer names no sha256: read :meth:`pypi_files`."""
        file_name = path.name
        target = f"{file_name} (PyPI)"
        url = f"{self.project_url}/packages/pypi"
        with self.session.progress_bar(file_name, path.stat().st_size) as bar:
            def attempt():
                with open(path, "rb") as stream:
                    encoder = MultipartEncoder(fields + [("content", (file_name, stream, "application/octet-stream"))])
                    monitor = MultipartEncoderMonitor(encoder, lambda m: bar.update(m.bytes_read - bar.n))
                    bar.reset(total=monitor.len)
                    return self.session.request("POST", url, data=monitor, auth=self.credentials.pypi_auth(),
                                                headers={"Content-Type": monitor.content_type})

            response = self.session.call(f"uploading {target}", attempt,
                                         landed=lambda: self.pypi_files(name, retry=False).get(file_name) == sha256)
        if response is not None and response.status_code not in (200, 201):
            raise self._fail(response, target, writing=True)


def form_fields(metadata: Mapping[str, object]) -> list[tuple[str, str]]:
    """Flatten ``field -> str | list[str]`` into multipart pairs, a repeated field once per value."""
    pairs: list[tuple[str, str]] = []
    for key, value in metadata.items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((key, str(item)) for item in values)
    return pairs
