"""Credentials for fetching weights: resolved exactly as the publisher's (gitlab/auth.py: deploy token, then
GITLAB_TOKEN, then CI_JOB_TOKEN), presented as the generic registry wants them, and sent only to GitLab
generic-package URLs: a reference to any other HTTPS host gets no token.

Imports only gitlab/auth.py (standard library; gitlab/__init__ loads the requests-based client lazily), so
the build hook can use it inside an isolated build environment.
"""
from __future__ import annotations

import os
from typing import Mapping
from urllib.parse import urlsplit

GENERIC_PATH = ("/api/v4/projects/", "/packages/generic/")


def headers_for(url: str, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    path = urlsplit(url).path
    if not all(part in path for part in GENERIC_PATH):
        return {}
    from .gitlab.auth import resolve_credentials
    from .gitlab.errors import ConfigError
    try:
        return resolve_credentials(env, required=False).generic_headers()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
