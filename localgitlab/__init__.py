"""A local GitLab-compatible package registry (generic and PyPI) for tests and for rehearsing a publish.

It follows the contract in the team's gitlab-packages-api notes: GitLab's paths, authentication, status
codes, bodies and duplicate rules, on a real HTTP/1.1 server (werkzeug) over loopback.
"""

from .faults import Fault
from .server import LocalGitLab

__all__ = ["Fault", "LocalGitLab"]
