"""``hatch publish -p gitlab [-o key=value ...] [dist]``: the same publish step as a Hatch publisher plugin.

Options are the command-line flags without dashes (``-o project=1217 -o dry-run=true``); settings still come
from ``[tool.mlbundle.publish]``, so there is one configuration whichever way the step is started.
"""

from __future__ import annotations

from hatch.publish.plugin.interface import PublisherInterface

from .cli import main

_SWITCHES = {"allow-generic-overwrite", "dry-run", "quiet", "verbose"}
_VALUES = {"url", "project", "token", "deploy-user", "deploy-token", "registry", "generic-package", "retries",
           "timeout", "backoff"}
_HATCH_OWN = {"no-prompt", "initialize-auth"}  # hatch adds these to every publisher's options


class GitLabPublisher(PublisherInterface):
    PLUGIN_NAME = "gitlab"

    def publish(self, artifacts: list, options: dict):
        if len(artifacts) > 1:
            self.app.abort("the gitlab publisher takes one directory holding the wheel and sdist", code=2)
        argv = ["--root", str(self.root), *artifacts]
        for key, value in options.items():
            flag = key.replace("_", "-")
            if flag in _HATCH_OWN:
                continue
            if flag in _SWITCHES:
                argv += [f"--{flag}"] if str(value).lower() in ("1", "true", "yes") else []
            elif flag in _VALUES:
                argv.append(f"--{flag}={value}")
            else:
                self.app.abort(f"unknown option {key!r} for the gitlab publisher; known: "
                               f"{', '.join(sorted(_SWITCHES | _VALUES))}", code=2)
        code = main(argv, prog="hatch publish -p gitlab")
        if code:
            self.app.abort(code=code)
