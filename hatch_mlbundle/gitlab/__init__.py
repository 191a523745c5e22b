"""Client for GitLab's generic and PyPI package registries (knows nothing of models or of Hatch)."""

from .auth import Credentials, resolve_credentials
from .client import GitLabClient, api_url_from, form_fields, normalize_name, project_id_from
from .errors import ConfigError, RegistryError, TransientError
from .redact import Redactor, redacted_output
from .session import RetryPolicy

__all__ = [
    "ConfigError", "Credentials", "GitLabClient", "Redactor", "RegistryError", "RetryPolicy", "TransientError",
    "api_url_from", "form_fields", "normalize_name", "project_id_from", "redacted_output",
    "resolve_credentials",
]
