"""What the model and build benchmarks share: the machine line, child processes measured alone, the table."""
import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))

from hatch_mlbundle.tables import markdown_table  # noqa: E402,F401 - re-exported to the bench scripts

HEADERS = ("measure", "ours", "reference", "ours vs reference", "target", "verdict")


@dataclass(frozen=True)
class Child:
    wall: float  # seconds
    rss_mib: float  # peak resident set of the child alone
    stdout: str
    stderr: str
    returncode: int


GNU_TIME = Path("/usr/bin/time")


def run_child(argv, env=None, cwd=ROOT, check=True):
    """Run one command to completion; its own wall time and peak RSS, not this process's.

    Linux keeps a parent's resident memory at fork in the child's peak RSS (exec does not reset it), so a
    benchmark holding torch would charge every child it starts with torch's memory. GNU time, a small
    process, starts the command instead and reports its peak; without it, os.wait4's figure (an upper
    bound). Output goes to temp files, not pipes: reading pipes needs communicate(), which reaps the child
    and loses its resource usage.  With `check`, a failure stops the benchmark: a number from a failed
    run lies.
    """
    full_env = dict(os.environ, **(env or {}))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        timed = [GNU_TIME, "-f", "%M", "-o", rss.name] if GNU_TIME.exists() else []
        started = time.perf_counter()
        child = subprocess.Popen([str(a) for a in timed + list(argv)], stdout=out, stderr=err, env=full_env,
                                 cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        reported = rss.read().strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    if code and check:
        last = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"bench: `{' '.join(map(str, argv[:4]))} ...` exited {code}: {last}")
    peak_kib = int(reported[-1]) if reported and reported[-1].isdigit() else usage.ru_maxrss  # both KiB
    return Child(wall, peak_kib / 1024, stdout, stderr, code)


def median(values):
    return statistics.median(values)


def verdict(ok):
    return "ok" if ok else "MISSED"


def progress(message):
    """Where the run is, on stderr, so stdout stays the table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpuinfo():
    """The first processor's fields in /proc/cpuinfo ({} where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0].splitlines()
    except OSError:
        return {}
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


def cpu_model():
    """The CPU's name, generation (family and model), widest vector instructions and cache. "AMD EPYC" names
    several generations: the default retrain took 9-11 s on one and 22-23 s on another (family 25 model 1,
    AVX2), which also rounded differently (other weights from the same sources), so a table must say which it
    was measured on."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    details = [f"family {info['cpu family']} model {info.get('model')}" if "cpu family" in info else None,
               "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None,
               f"cache {info['cache size']}" if "cache size" in info else None]
    details = [detail for detail in details if detail]
    return f"{name} ({', '.join(details)})" if details else name


def machine_line(extra=""):
    """Date and machine, so a table read later says where and when it was measured.

    The load average matters here: the machine is shared, and torch's threads slow down sharply
    when another process wants the same cores.
    """
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = [
        datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        f"{cpu_model()}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"torch {importlib.metadata.version('torch')}",
        f"load average {load}",
    ]
    return "; ".join(parts + ([extra] if extra else []))


def publish(title, machine, tables, notes, out=None):
    """Print the report (and write it to `out`): title, machine line, tables, notes."""
    text = "\n\n".join([f"## {title}", machine, *tables, *notes]) + "\n"
    print(text)
    if out:
        Path(out).write_text(text, encoding="utf-8")
