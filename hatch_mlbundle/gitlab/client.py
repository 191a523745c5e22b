"""GitLab's generic and PyPI package registries of one project, over one session.

Knows GitLab's URLs, auth forms and answers; knows nothing of what is being published.
Every upload streams from disk and every download is hashed as it streams in, each read capped at the size
asked for (:mod:`.bodies`), so memory stays flat whatever the file size or the server sends.
"""

from __future__ import annotations

import html.parser
import re
from contextlib import closing
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from tqdm.utils import CallbackIOWrapper

from ..files import digest_chunks
from .auth import Credentials
from .bodies import ANSWER_LIMIT, INDEX_LIMIT, Body, read_answer
from .errors import ConfigError, RegistryError, explain, server_message
from .session import RegistrySession, RetryPolicy

# What a read-back names when the server serves a file of another size than the one sent: never a sha256.
OTHER_SIZE = "a file of another size"
_CREDENTIAL_KEYS = {"private_token", "job_token", "access_token", "deploy_token", "token"}


def api_url_from(url: str) -> str:
    """Accept the server URL or the API root (``CI_SERVER_URL`` or ``CI_API_V4_URL``); return the API root."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("the GitLab URL must look like https://gitlab.example.com/api/v4 "
                          "(set CI_API_V4_URL or --url)")
    # A token in the URL would leak into every message and log line, so no form of one is accepted; the error
    # names the form, never the URL.
    keys = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.username or parts.password or keys & _CREDENTIAL_KEYS:
        raise ConfigError("the GitLab URL must not contain credentials (user:password@ or a *_token= query); "
                          "give the token with GITLAB_TOKEN or --token")
    if parts.query or parts.fragment:
        raise ConfigError("the GitLab URL must be the API root, with no ?query or #fragment")
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
    """Collects ``file name -> sha256`` and ``file name -> href`` from a PEP 503 versions page
    (``<a href="...#sha256=H">name</a>``)."""

    def __init__(self):
        super().__init__()
        self.files: dict[str, str] = {}
        self.hrefs: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data):
        if self._href is not None and data.strip():
            fragment = urlsplit(self._href).fragment
            self.files[data.strip()] = fragment.partition("sha256=")[2].lower()
            self.hrefs[data.strip()] = self._href.partition("#")[0]

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

    def _get_file(self, url: str, **kwargs) -> requests.Response:
        """GET a file, its body unread; a redirect (signed object-storage URL) is followed once, without token."""
        response = self.session.request("GET", url, limit=None, **kwargs)
        if response.is_redirect:
            response.close()
            response = self.session.request("GET", urljoin(url, response.headers["Location"]), limit=None)
        return response

    def _served_sha256(self, response: requests.Response, size: int) -> str:
        """sha256 of a 200 answer's body, read with the expected ``size`` as its cap; :data:`OTHER_SIZE` if the
        body is not that size (then, when a Content-Length says so, without reading it at all)."""
        declared = response.headers.get("Content-Length")
        if declared is not None and not response.headers.get("Content-Encoding") and declared != str(size):
            return OTHER_SIZE
        body = Body(response, size, self.session.policy.timeout)
        digest = digest_chunks(body)["sha256"]
        return OTHER_SIZE if body.truncated or body.size != size else digest

    def _read_error(self, response: requests.Response) -> None:
        read_answer(response, ANSWER_LIMIT, self.session.policy.timeout)  # the small error body, for the message

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

    # -- PyPI registry ---------------------------------------------------------------------------------------

    def pypi_simple_url(self, name: str) -> str:
        return f"{self.project_url}/packages/pypi/simple/{normalize_name(name)}"

    def _pypi_index(self, name: str, *, retry: bool = True) -> _SimpleIndexLinks:
        """The distribution's versions page, parsed; read with a cap (a page over it is an error, not a hang)."""
        target = f"{name} (PyPI index)"
        cut: list[bool] = []

        def attempt():
            response = self.session.request("GET", self.pypi_simple_url(name), auth=self.credentials.pypi_auth(),
                                            limit=None)
            with closing(response):
                limit = INDEX_LIMIT if response.status_code == 200 else ANSWER_LIMIT
                cut[:] = [read_answer(response, limit, self.session.policy.timeout)]
            return response

        response = self.session.call(f"reading {target}", attempt, retry=retry)
        links = _SimpleIndexLinks()
        if response.is_redirect:  # "forward to pypi.org" is on: the name is simply not in this project
            return links
        if response.status_code == 404 and not self._project_missing(response):
            return links
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        if cut[0]:
            raise RegistryError(f"{target}: the index page is over {INDEX_LIMIT >> 20} MiB, more than any real "
                                "one; check --url (is it a GitLab API root?)")
        links.feed(response.text)
        return links

    def pypi_files(self, name: str, *, retry: bool = True) -> dict[str, str]:
        """``file name -> sha256`` as the project's index lists them: the digest the uploader *sent* (GitLab
        records the client's), so it says what is listed, not what is stored; see :meth:`pypi_served_sha256`."""
        return self._pypi_index(name, retry=retry).files

    def pypi_links(self, name: str) -> dict[str, str]:
        """``file name -> download URL`` of every file of the distribution in the project's index."""
        return self._pypi_index(name).hrefs

    def pypi_served_sha256(self, url: str, file_name: str, size: int) -> str:
        """sha256 of the bytes pip gets from ``url`` (an index link), streamed and hashed, at most ``size`` read.

        The token goes only to the API's own host: an index that links elsewhere is read without one.
        """
        target = f"{file_name} (PyPI)"
        same_origin = urlsplit(url)[:2] == urlsplit(self.api_url)[:2]
        auth = self.credentials.pypi_auth() if same_origin else None
        found: dict[str, str] = {}

        def attempt():
            response = self._get_file(url, auth=auth)
            with closing(response):
                if response.status_code == 200:
                    found["sha256"] = self._served_sha256(response, size)
                else:
                    self._read_error(response)
            return response

        response = self.session.call(f"reading back {target}", attempt)
        if response.status_code != 200:
            raise self._fail(response, target, writing=False)
        return found["sha256"]

    def pypi_upload(self, path: Path, fields: list[tuple[str, str]], name: str, sha256: str) -> None:
        """POST one distribution file as twine does; read it back with :meth:`pypi_served_sha256` afterwards."""
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
