"""The Releases API's half of :class:`~.client.GitLabClient`: read, create and complete a project's Releases
and their asset links (contract: GitLab's lib/api/releases.rb and lib/api/release/links.rb).

A mixin: it uses the client's session, credentials and error advice, and knows nothing of what is released.
The Releases API takes the job token and access tokens, never a deploy token, and only as headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .bodies import INDEX_LIMIT
from .errors import ConfigError, RegistryError, server_message

PER_PAGE = 100
MAX_PAGES = 50  # 5,000 releases: a project with more is not looked through for the previous one


class ReleasesAPI:
    def release_url(self, tag: str = "") -> str:
        base = f"{self.project_url}/releases"
        return f"{base}/{quote(tag, safe='')}" if tag else base

    def _release_headers(self) -> dict[str, str]:
        if self.credentials.kind == "deploy":
            raise ConfigError("a release (its GitLab Release, and the regression gate that reads the previous one) "
                              "needs the Releases API, which refuses deploy tokens: use CI_JOB_TOKEN or an access "
                              "token with the api scope, or publish without a tag")
        return self.credentials.generic_headers()  # JOB-TOKEN / PRIVATE-TOKEN, as the Releases API reads them

    def _release_call(self, method: str, url: str, what: str, *, writing: bool, ok: tuple[int, ...],
                      **kwargs: Any) -> Any:
        """One JSON exchange (retried when transient); the decoded answer, or ``None`` for a 404 of the release."""
        headers = self._release_headers()
        response = self.session.call(
            what, lambda: self.session.request(method, url, headers=headers, limit=INDEX_LIMIT, **kwargs))
        if response.status_code == 404 and not self._project_missing(response) and method == "GET":
            return None
        if response.status_code not in ok:
            raise self._release_error(response, what, writing=writing)
        try:
            return response.json()
        except ValueError:
            raise RegistryError(f"{what}: {response.status_code} with an answer that is not JSON; check --url "
                                "(is it a GitLab API root?)") from None

    def release(self, tag: str) -> dict[str, Any] | None:
        """The release of ``tag`` (with its links), ``None`` if there is none."""
        return self._release_call("GET", self.release_url(tag), f"release {tag}", writing=False, ok=(200,))

    def releases(self) -> list[dict[str, Any]]:
        """Every release, newest ``released_at`` first."""
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            params = {"page": page, "per_page": PER_PAGE, "order_by": "released_at", "sort": "desc"}
            batch = self._release_call("GET", self.release_url(), "releases", writing=False, ok=(200,),
                                       params=params) or []
            found += batch
            if len(batch) < PER_PAGE:
                break
        return found

    def create_release(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """POST the release; ``None`` when it exists already (409: someone, or an earlier run, was first)."""
        tag = payload["tag_name"]
        headers = self._release_headers()
        what = f"release {tag}"
        response = self.session.call(
            f"creating {what}",
            lambda: self.session.request("POST", self.release_url(), json=payload, headers=headers, limit=INDEX_LIMIT),
            landed=lambda: self.release(tag) is not None)
        if response is None or response.status_code == 409:
            return None
        if response.status_code != 201:
            raise self._release_error(response, what, writing=True)
        return response.json()

    def _release_error(self, response, what: str, *, writing: bool) -> RegistryError:
        """A 400 or 422 is GitLab refusing this release or link: nothing a version bump would fix."""
        if response.status_code in (400, 422):
            return RegistryError(f"{what}: {response.status_code}: {server_message(response) or 'refused'}; fix or "
                                 "delete it in GitLab (Deploy > Releases), or push the tag, and publish again",
                                 status=response.status_code)
        return self._fail(response, what, writing=writing)

    def update_release(self, tag: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._release_call("PUT", self.release_url(tag), f"release {tag}", writing=True, ok=(200,),
                                  json=fields)

    def add_release_link(self, tag: str, link: dict[str, Any]) -> dict[str, Any]:
        return self._release_call("POST", f"{self.release_url(tag)}/assets/links", f"link {link['name']} of {tag}",
                                  writing=True, ok=(201,), json=link)

    def update_release_link(self, tag: str, link_id: int, link: dict[str, Any]) -> dict[str, Any]:
        return self._release_call("PUT", f"{self.release_url(tag)}/assets/links/{link_id}",
                                  f"link {link['name']} of {tag}", writing=True, ok=(200,), json=link)
