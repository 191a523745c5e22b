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
BACKENDS = ("c10d", "etcd", "etcd-v2", "static")
RENDEZVOUS = ("rdzv-backend", "rdzv-id", "rdzv-timeout")  # only with an endpoint
OPTIONS = ("nnodes", "nproc-per-node", "rdzv-endpoint", "max-restarts", *RENDEZVOUS)
WORKER = "hatch_mlbundle.bundle.worker"
ENDPOINT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[\w.:-]+):(\d{1,5})")


@dataclasses.dataclass(frozen=True)
class Torchrun:
    nnodes: int = 1
    nproc_per_node: int = 1
    rdzv_endpoint: str | None = None  # host:port of the rendezvous; None for one machine (torchrun --standalone)
    rdzv_backend: str = "c10d"
    rdzv_id: str = "mlbundle"
    rdzv_timeout: int = 600  # seconds the nodes wait for each other (torchrun's join_timeout)
    max_restarts: int = 0

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    def command(self, spec: str, run_id: str, log_dir: str) -> list[str]:
        """The command each node runs; the build's node and `python -m hatch_mlbundle join` run the same."""
        if self.rdzv_endpoint is None:
            where = ["--standalone"]
        else:
            where = [f"--rdzv-backend={self.rdzv_backend}", f"--rdzv-endpoint={self.rdzv_endpoint}",
                     f"--rdzv-id={run_id}", f"--rdzv-conf=join_timeout={self.rdzv_timeout}"]
        return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={self.nnodes}",
                f"--nproc-per-node={self.nproc_per_node}", *where, f"--max-restarts={self.max_restarts}",
                f"--log-dir={log_dir}", "-m", WORKER, spec]


def _at_least(read: Reader, key: str, default: int, least: int) -> int:
    value = read.get(key, int, default)
    if value < least:
        read.fail(key, f"must be at least {least}, not {value}")
    return value


def read_launcher(read: Reader) -> Torchrun | None:
    """None (train in the build's own process, the default) or the torchrun options, checked."""
    launcher = read.get("launcher", str, "in-process")
    if launcher not in LAUNCHERS:
        read.fail("launcher", f"must be one of {', '.join(map(repr, LAUNCHERS))}, not {launcher!r}")
    given = [key for key in OPTIONS if key in read.table]
    read.used.update(OPTIONS)
    if launcher == "in-process":
        if given:
            read.fail(given[0], "is a torchrun option; set `launcher = \"torchrun\"` to use it, or remove it")
        return None
    nnodes, nproc = _at_least(read, "nnodes", 1, 1), _at_least(read, "nproc-per-node", 1, 1)
    endpoint = read.get("rdzv-endpoint", str)
    if endpoint is None:
        if nnodes > 1:
            read.fail("rdzv-endpoint", f"is required with nnodes = {nnodes}: the host:port every node reaches "
                                       "(the build's machine, e.g. \"10.0.0.5:29400\")")
        for key in RENDEZVOUS:
            if key in read.table:
                read.fail(key, "is only used with `rdzv-endpoint` (one machine alone needs no rendezvous); remove it")
    else:
        match = ENDPOINT.fullmatch(endpoint)
        if not match or not 1 <= int(match[2]) <= 65535:
            read.fail("rdzv-endpoint", f"must be host:port with a port from 1 to 65535, not {endpoint!r}")
    backend = read.get("rdzv-backend", str, "c10d")
    if backend not in BACKENDS:
        read.fail("rdzv-backend", f"must be one of {', '.join(BACKENDS)} (torchrun's), not {backend!r}")
    return Torchrun(nnodes, nproc, endpoint, backend, read.get("rdzv-id", str, "mlbundle"),
                    _at_least(read, "rdzv-timeout", 600, 1), _at_least(read, "max-restarts", 0, 0))
