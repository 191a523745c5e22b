"""The PyPI registry's half of :class:`~.client.GitLabClient`: the project's simple index, the files it links
to (read back and hashed), and uploads as twine sends them.

A mixin: it uses the client's session, credentials and error advice, and knows nothing of what is published.
"""

from __future__ import annotations

import html.parser
import re
from contextlib import closing
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlsplit

from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from .bodies import ANSWER_LIMIT, INDEX_LIMIT, read_answer
from .errors import RegistryError


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


class PyPIRegistry:
    def pypi_simple_url(self, name: str) -> str:
        return f"{self.project_url}/packages/pypi/simple/{normalize_name(name)}"

    def pypi_file_url(self, sha256: str, file_name: str) -> str:
        """Where GitLab serves a file of the project's PyPI registry (``files/:sha256/*file_identifier``)."""
        return f"{self.project_url}/packages/pypi/files/{sha256}/{quote(file_name)}"

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
