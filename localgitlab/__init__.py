"""A local GitLab-compatible package registry (generic and PyPI) and Releases API, for tests and rehearsals.

It follows the contracts in the team's gitlab-packages-api and gitlab-releases-api notes: GitLab's paths, auth, status
codes, bodies and duplicate rules, on a real HTTP/1.1 server (werkzeug) over loopback.
"""

from .faults import Fault
from .server import LocalGitLab

__all__ = ["Fault", "LocalGitLab"]
