"""One torchrun worker: ``python -m hatch_mlbundle.bundle.worker SPEC``, the project's `train` called exactly as
the build calls it in its own process (same config, same arguments).

The project's training does the distributed part (process group, sharding, who writes). This module only
reports: the first worker of each node prints the progress lines the build shows, a failure becomes a one-line
file the launcher reads instead of a traceback, and what `train` returned is handed back as JSON.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..files import write_json_atomic
from .config import load_config
from .errors import BundleError
from .launch import call_train


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    config = load_config(spec["root"], spec["table"], spec["hook"], environ={})
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    say = (lambda line: print(line, flush=True)) if local_rank == 0 else (lambda line: None)
    try:
        summary = call_train(config, spec["weights"], say)
    except BundleError as exc:
        Path(spec["errors"], f"rank-{rank}").write_text(str(exc), encoding="utf-8")
        return 1
    if summary is not None:
        write_json_atomic(Path(spec["result"]), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
