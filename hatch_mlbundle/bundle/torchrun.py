"""`launcher = "torchrun"`: the hook's options for distributed training, read once, and the torchrun command.

torchrun (torch.distributed.run, shipped with torch) starts the processes, runs the rendezvous and restarts or
stops the workers; the plugin only writes its command line. The world size is fixed (`nnodes` x
`nproc-per-node`, no elastic ranges): with the seed it determines the weights, so it is in the fingerprint.
"""
from __future__ import annotations

import dataclasses
import re
import sys

from .reader import Reader

LAUNCHERS = ("in-process", "torchrun")
OPTIONS = ("nnodes", "nproc-per-node", "rdzv-backend", "rdzv-endpoint", "rdzv-id", "max-restarts")
WORKER = "hatch_mlbundle.bundle.worker"


@dataclasses.dataclass(frozen=True)
class Torchrun:
    nnodes: int = 1
    nproc_per_node: int = 1
    rdzv_backend: str = "c10d"
    rdzv_endpoint: str | None = None  # host:port of the rendezvous; None for one machine (torchrun --standalone)
    rdzv_id: str = "mlbundle"
    max_restarts: int = 0

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    def command(self, spec: str, run_id: str) -> list[str]:
        """The command each node runs; the build's node and `python -m hatch_mlbundle join` run the same."""
        if self.rdzv_endpoint is None:
            where = ["--standalone"]
        else:
            where = [f"--rdzv-backend={self.rdzv_backend}", f"--rdzv-endpoint={self.rdzv_endpoint}",
                     f"--rdzv-id={run_id}"]
        return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={self.nnodes}",
                f"--nproc-per-node={self.nproc_per_node}", *where, f"--max-restarts={self.max_restarts}",
                "-m", WORKER, spec]


def read_launcher(read: Reader) -> Torchrun | None:
    """None (train in the build's own process, the default) or the torchrun options, checked."""
    launcher = read.get("launcher", str, "in-process")
    if launcher not in LAUNCHERS:
        read.fail("launcher", f"must be one of {', '.join(map(repr, LAUNCHERS))}, not {launcher!r}")
    if launcher == "in-process":
        given = [key for key in OPTIONS if key in read.table]
        if given:
            read.fail(given[0], "is a torchrun option; set `launcher = \"torchrun\"` to use it, or remove it")
        read.used.update(OPTIONS)
        return None
    counts = {key: read.get(key, int, 1) for key in ("nnodes", "nproc-per-node")}
    for key, count in counts.items():
        if count < 1:
            read.fail(key, f"must be at least 1, not {count}")
    endpoint = read.get("rdzv-endpoint", str)
    if counts["nnodes"] > 1 and endpoint is None:
        read.fail("rdzv-endpoint", f"is required with nnodes = {counts['nnodes']}: the host:port every node "
                                   "reaches (the build's machine, e.g. \"10.0.0.5:29400\")")
    if endpoint is not None and not re.fullmatch(r"\[?[\w.:-]+\]?:\d{1,5}", endpoint):
        read.fail("rdzv-endpoint", f"must be host:port, not {endpoint!r}")
    restarts = read.get("max-restarts", int, 0)
    if restarts < 0:
        read.fail("max-restarts", f"must be 0 or more, not {restarts}")
    return Torchrun(counts["nnodes"], counts["nproc-per-node"], read.get("rdzv-backend", str, "c10d"), endpoint,
                    read.get("rdzv-id", str, "mlbundle"), restarts)
