"""Client for GitLab's generic and PyPI package registries (knows nothing of models or of Hatch).

Names are loaded on first use (PEP 562): importing ``hatch_mlbundle.gitlab.auth`` alone (standard library) must
not pull in requests, so the build hook can resolve fetch credentials inside an isolated build environment.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Credentials": "auth", "resolve_credentials": "auth",
    "GitLabClient": "client", "api_url_from": "client", "form_fields": "client", "normalize_name": "client",
    "project_id_from": "client",
    "ConfigError": "errors", "RegistryError": "errors", "TransientError": "errors",
    "Redactor": "redact", "redacted_output": "redact",
    "RetryPolicy": "session",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
