"""One line for a failed torchrun run, naming the cause rather than its echoes.

When one worker dies, the others die after it: torchrun stops them (SIGTERM), gloo aborts (SIGABRT), or the
project's code raises on the broken connection and writes an error file like the real one. So the cause is,
in order: a worker killed by another signal; else the project's own error (a lost connection only when
nothing else was written, the earliest first); else a rendezvous that never gathered; else torchrun's last
error. The details stay in torchrun's report (MLBUNDLE_DEBUG=1).
"""
from __future__ import annotations

import re
import signal
from pathlib import Path

from .project import DEBUG_ENV
from .torchrun import Torchrun

UNCHANGED = "nothing was written (weights, manifest and lock unchanged)"
ECHOES = {signal.SIGTERM, signal.SIGABRT}
LOST_PEER = re.compile(r"Connection (?:closed|reset) by peer|Broken pipe|connectFullMesh|remote process exited",
                       re.IGNORECASE)
# a block of torchrun's report: "rank : N (local_rank: M)" then "exitcode : C"
WORKER = re.compile(r"\brank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")


def explain(errors: Path, report: str, status: int, launcher: Torchrun, run_id: str) -> str:
    advice = f"(set {DEBUG_ENV}=1 for torchrun's report)"
    root_cause = report.rpartition("Root Cause")[2]
    for rank, code in WORKER.findall(root_cause) + WORKER.findall(report):
        if int(code) < 0 and -int(code) not in ECHOES:
            return f"torchrun: worker rank {rank} {_death(-int(code))}; {UNCHANGED} {advice}"
    written = sorted(errors.iterdir(), key=lambda path: path.stat().st_mtime_ns)
    causes = [path for path in written if not LOST_PEER.search(path.read_text(encoding="utf-8"))] or written
    if causes:
        return f"{causes[0].read_text(encoding='utf-8')} (torchrun worker {causes[0].name}); {UNCHANGED}"
    if "RendezvousTimeoutError" in report:
        return (f"torchrun: the {launcher.nnodes} nodes did not all join the rendezvous {run_id} at "
                f"{launcher.rdzv_endpoint} within {launcher.rdzv_timeout} s; start the build first, then "
                "`python -m hatch_mlbundle join` on each other node, in a checkout of the same commit with the same "
                f"data and torch (the rendezvous id ends with their fingerprint); {UNCHANGED}")
    raised = re.findall(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception))(?:: (.+))?$", report, re.MULTILINE)
    last = f": {raised[-1][0]}" + (f": {raised[-1][1].strip()}" if raised[-1][1] else "") if raised else ""
    return f"torchrun exited with status {status}{last}; {UNCHANGED} {advice}"


def _death(number: int) -> str:
    try:
        return f"was killed by {signal.Signals(number).name}"
    except ValueError:
        return f"died of signal {number}"
