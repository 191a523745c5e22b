"""``python -m hatch_mlbundle <command> ...``: a dispatcher only; each command lives in its own package."""

from __future__ import annotations

import importlib
import sys

# command -> module with main(argv, prog=...) returning the exit status; imported only when chosen
COMMANDS = {"publish": "hatch_mlbundle.publish.cli", "weights": "hatch_mlbundle.publish.weights",
            "join": "hatch_mlbundle.bundle.join"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m hatch_mlbundle {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    command = importlib.import_module(COMMANDS[argv[0]])
    return command.main(argv[1:], prog=f"python -m hatch_mlbundle {argv[0]}")


if __name__ == "__main__":
    sys.exit(main())
