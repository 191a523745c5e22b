"""Registry failures as one line a user can act on.

GitLab answers errors as ``{"message": "..."}`` (its own helpers), ``{"error": "..."}`` (Grape validation,
unknown routes) or ``{"error": "invalid_token", "error_description": ...}`` (rack-oauth2).  The raw text is
rarely enough to know what to do, so :func:`explain` turns status + text into the fix.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .redact import Redactor

# Statuses a retry can cure: rate limiting and the usual proxy/app-server hiccups.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

NO_TOKEN_HINT = ("set CI_JOB_TOKEN (GitLab CI sets it), GITLAB_TOKEN or --token (personal, project or group "
                 "access token), or GITLAB_DEPLOY_USER and GITLAB_DEPLOY_TOKEN (deploy token)")


class ConfigError(Exception):
    """Bad or missing configuration (URL, project, credentials): the user must change the call (exit 2)."""


class RegistryError(Exception):
    """The registry refused or failed a request; ``str()`` is one actionable line (exit 1)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientError(RegistryError):
    """The network or the registry kept failing after every retry; running again later can finish the job."""


def server_message(response, redactor: Redactor | None = None) -> str:
    """The registry's own error text, without the JSON wrapping (empty when there is none), fit for one line:
    redacted, then cut once (:meth:`Redactor.shorten`).  The body was already read with a cap by the session."""
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, RecursionError):  # not JSON, or JSON cut at the cap
        message = response.text
    else:
        message = ""
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or "")
            if body.get("error_description"):
                message = f"{message}: {body['error_description']}"
    return (redactor or Redactor()).shorten(message)


def explain(response, *, target: str, project: str, credentials, writing: bool) -> RegistryError:
    """Turn an unexpected answer into the one line that tells the user what to change.

    ``target`` names the file (or index) being handled; ``credentials`` says where the token came from, so
    a 401 can name the variable to fix.  Nothing here includes request headers, so no secret can leak.
    """
    status = response.status_code
    redactor = Redactor(credentials.secret_forms())
    text = server_message(response, redactor)
    reason = redactor.shorten(response.reason or "", 80)
    lowered = text.lower()
    if status == 401 and credentials.kind == "none":
        message = f"{target}: 401 Unauthorized: no token given; {NO_TOKEN_HINT}"
    elif status == 401:
        reason = f" ({text})" if "token" in lowered else ""
        message = (f"{target}: 401 Unauthorized: the {credentials.describe()} was refused{reason}; "
                   f"it is mistyped, expired or revoked: fix {credentials.source}")
    elif status == 403 and "protected" in lowered:
        message = f"{target}: 403 Forbidden: the package is protected in project {project}; ask a Maintainer"
    elif status == 403:
        need = ("the api or write_package_registry scope and at least the Developer role"
                if writing else "the read_api or read_package_registry scope and membership of the project")
        message = (f"{target}: 403 Forbidden: the {credentials.describe()} may not "
                   f"{'publish to' if writing else 'read packages of'} project {project}; it needs {need}")
    elif status == 404:
        message = (f"{target}: 404: project {project} not found or not visible to the {credentials.describe()}; "
                   "check CI_PROJECT_ID (or --project) and the token's membership")
    elif status == 400 and "too large" in lowered:
        message = f"{target}: 400: larger than the registry's size limit; ask an admin to raise the plan limit"
    elif status == 400 and "duplicate" in lowered:
        message = (f"{target}: 400: this version already holds the file and the group forbids duplicate "
                   "generic packages; bump the version")
    elif status == 400 and "already been taken" in lowered:
        message = f"{target}: 400: this version already holds the file; bump the version"
    elif response.is_redirect:  # never followed: it would take the token along, or lose a POST body
        where = urlsplit(response.headers["Location"])
        message = (f"{target}: {status}: the registry redirects to {where.scheme}://{where.netloc}; use the address "
                   "GitLab itself answers on as --url (or CI_API_V4_URL)")
    elif status in RETRYABLE_STATUSES:
        message = f"{target}: {status} {reason}: the registry is failing; run again later"
    else:
        message = f"{target}: {status} {reason}: {text or 'no explanation from the registry'}"
    return RegistryError(message, status=status)
