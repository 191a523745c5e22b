"""GitLab's generic and PyPI package registries, and Releases, of one project, over one session.

Knows GitLab's URLs, auth forms and answers; knows nothing of what is being published.
Every upload streams from disk and every download is hashed as it streams in, each read capped at the size
asked for (:mod:`.bodies`), so memory stays flat whatever the file size or the server sends.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

import requests

from ..files import digest_chunks
from .auth import Credentials
from .bodies import ANSWER_LIMIT, Body, read_answer
from .errors import ConfigError, RegistryError, explain, server_message
from .generic import GenericRegistry
from .pypi import PyPIRegistry, form_fields, normalize_name
from .releases import ReleasesAPI
from .session import RegistrySession, RetryPolicy

__all__ = ["GitLabClient", "api_url_from", "form_fields", "normalize_name", "project_id_from"]

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


class GitLabClient(GenericRegistry, PyPIRegistry, ReleasesAPI):
    """The package registries and Releases of one project, with the credentials resolved once."""

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
