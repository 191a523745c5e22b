"""``hatch publish -p gitlab [-o key=value ...] [dist]``: the same publish step as a Hatch publisher plugin.

Options are the command-line flags without dashes (``-o project=1217 -o dry-run=true``), handed as they are to the
same :func:`load_settings` the command line uses (no argv is rebuilt and parsed again); settings still come
from ``[tool.mlbundle.publish]``, so there is one configuration whichever way the step is started.
"""

from __future__ import annotations

import os

from hatch.publish.plugin.interface import PublisherInterface

from .cli import publish_options
from .options import OPTIONS

_SET_BY_HATCH = {"root", "dist"}  # the project hatch runs in, and the artifacts argument
_HATCH_OWN = {"no-prompt", "initialize-auth"}  # hatch adds these to every publisher's options
_KNOWN = sorted(o.name for o in OPTIONS if o.flags and o.name not in _SET_BY_HATCH)


class GitLabPublisher(PublisherInterface):
    PLUGIN_NAME = "gitlab"

    def publish(self, artifacts: list, options: dict) -> None:
        if len(artifacts) > 1:
            self.app.abort("the gitlab publisher takes one directory holding the wheel and sdist", code=2)
        given: dict[str, object] = {"root": str(self.root), **({"dist": artifacts[0]} if artifacts else {})}
        for key, value in options.items():
            name = key.replace("_", "-")
            if name in _HATCH_OWN:
                continue
            if name not in _KNOWN:
                self.app.abort(f"unknown option {key!r} for the gitlab publisher; known: {', '.join(_KNOWN)}", code=2)
            given[name] = value
        code = publish_options(given, os.environ, prog="hatch publish -p gitlab")
        if code:
            self.app.abort(code=code)
