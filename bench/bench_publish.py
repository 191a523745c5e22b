"""Upload cost of the publisher against curl, on the local GitLab registry; prints a markdown table.

    .venv/bin/python bench/bench_publish.py                     # 1 GiB: generic PUT, PyPI POST, curl
    .venv/bin/python bench/bench_publish.py --size-mib 64       # quicker
    .venv/bin/python bench/bench_publish.py --dist dist/        # also: publish dist/ (plain, then as a release)

Each upload runs in a child process, measured by GNU time (its own wall time, CPU and peak RSS, not the
server's, which runs in this process); each is run --repeat times, best shown.
Targets: wall <= 1.3x the same-shape curl's, peak RSS <= 150 MiB.
The test file is sparse: it costs no disk to make, and reads as fast for every contestant.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hatch_mlbundle.gitlab import Credentials, GitLabClient, RetryPolicy  # noqa: E402

GNU_TIME = "/usr/bin/time"
PROJECT = 4242
TOKEN = "bench-token-not-secret"
WALL_RATIO = 1.3
RSS_LIMIT_MIB = 150


def measure(argv: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process.

    GNU time does the waiting: a child forked straight from this (large) process would count this process's
    pages in its own peak RSS.  Dirty pages of the previous upload are flushed first, so that no run pays for
    another's disk writes.
    """
    os.sync()
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.monotonic()
        child = subprocess.run([GNU_TIME, "-f", "%U %S %M", "-o", report.name, *argv], env=env,
                               stdout=subprocess.DEVNULL)
        wall = time.monotonic() - started
        if child.returncode:
            raise SystemExit(f"{' '.join(argv[:4])}... failed with status {child.returncode}")
        user, system, rss_kib = report.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kib) / 1024


def child_upload(kind: str, api_url: str, path: str, version: str) -> None:
    """What the child process runs: one streamed upload through the publisher's client."""
    blob = Path(path)
    credentials = Credentials("access", "bench", TOKEN)
    with GitLabClient(api_url, str(PROJECT), credentials, policy=RetryPolicy(retries=0, timeout=600)) as client:
        sha256 = "0" * 64  # the server computes its own for generic; for PyPI the form value is only stored
        if kind == "generic":
            client.generic_upload(blob, "bench", version, "blob.bin", sha256)
        else:
            fields = [(":action", "file_upload"), ("protocol_version", "1"), ("name", "bench-blob"),
                      ("version", version), ("filetype", "bdist_wheel"), ("pyversion", "py3"),
                      ("sha256_digest", sha256)]
            wheel = blob.with_name(f"bench_blob-{version}-py3-none-any.whl")  # the file name is the upload's
            wheel.symlink_to(blob)
            try:
                client.pypi_upload(wheel, fields, "bench-blob", sha256)
                client.pypi_files("bench-blob")  # the publisher's verification: the index, read after the upload
            finally:
                wheel.unlink()


def upload_rows(gl, blob: Path, repeat: int) -> list[list[str]]:
    """The same file to the same server: ours against curl, each shape against curl's own (best of ``repeat``)."""
    size_mib = blob.stat().st_size / 2**20
    project = f"{gl.api_url}/projects/{PROJECT}/packages"
    me = [sys.executable, __file__, "--child"]
    curl = ["curl", "--silent", "--show-error", "--fail", "--output", os.devnull, "--header", f"PRIVATE-TOKEN: {TOKEN}"]
    contestants = {  # name: (command, the curl it is held against)
        "curl --upload-file (generic PUT)": (lambda n: curl + ["--upload-file", str(blob),
                                                               f"{project}/generic/bench/{n}/curl.bin"], None),
        "publisher generic PUT": (lambda n: me + ["generic", gl.api_url, str(blob), n],
                                  "curl --upload-file (generic PUT)"),
        "curl -F (PyPI multipart POST)": (lambda n: curl + [
            "--form", "name=bench-curl", "--form", f"version={n}", "--form", f"sha256_digest={'0' * 64}",
            "--form", f"content=@{blob};filename=bench_curl-{n}-py3-none-any.whl", f"{project}/pypi"], None),
        "publisher PyPI multipart POST": (lambda n: me + ["pypi", gl.api_url, str(blob), n],
                                          "curl -F (PyPI multipart POST)"),
    }
    best: dict[str, tuple[float, float, float]] = {}
    for round_number in range(1, repeat + 1):
        for name, (command, _) in contestants.items():
            # new leading bytes per run: the registry stores blobs by sha256, and replacing an identical
            # 1 GiB blob (freeing the old one) would be billed to whoever uploads it second
            with open(blob, "r+b") as head:
                head.write(os.urandom(16))
            result = measure(command(f"1.0.{round_number}"))
            best[name] = min(best.get(name, result), result)
    reference = best["curl --upload-file (generic PUT)"][0]
    rows = []
    for name, (_, against) in contestants.items():
        wall, cpu, rss = best[name]
        ratio = wall / best[against][0] if against else 1.0
        verdict = ("ok" if ratio <= WALL_RATIO and rss <= RSS_LIMIT_MIB else "MISSED") if against else "-"
        rows.append([name, f"{size_mib:.0f} MiB", f"{wall:.2f}", f"{size_mib / wall:.0f}", f"{cpu:.2f}",
                     f"{wall / reference:.2f}x", f"{ratio:.2f}x" if against else "-", f"{rss:.0f}", verdict])
    return rows


def publish_rows(gl, dist: Path, root: Path) -> list[list[str]]:
    """A plain publish of ``dist`` (PyPI + generic) and its rerun; then, into a second project, the publish of its
    tag (PyPI + generic + a GitLab Release, after the regression check) and its rerun.  Requests: as the
    registry counted them."""
    from hatch_mlbundle.publish.artifacts import find_artifacts

    version = find_artifacts(dist)[0].version
    size_mib = sum(p.stat().st_size for p in dist.iterdir() if p.is_file()) / 2**20
    rows = []
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    for project, extra, label in ((PROJECT, [], "publish dist/"),
                                  (PROJECT + 1, ["--tag", f"v{version}"], f"publish dist/ --tag v{version}")):
        env = {**os.environ, "GITLAB_TOKEN": TOKEN, "CI_API_V4_URL": gl.api_url, "CI_PROJECT_ID": str(project),
               "CI_COMMIT_SHA": commit}  # the release's ref, as in CI (a wheel built from an sdist names none)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "hatch_mlbundle", "publish", "--quiet", "--root", str(root), *extra,
                   str(dist)]
        for run in ("first run", "rerun, all identical"):
            before = len(gl.requests)
            wall, cpu, rss = measure(command, env)
            requests = len(gl.requests) - before
            rows.append([f"{label} ({run}; {requests} requests)", f"{size_mib:.1f} MiB", f"{wall:.2f}", "-",
                         f"{cpu:.2f}", "-", "-", f"{rss:.0f}", "-"])
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child_upload(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the test file (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best of each is shown (default 3)")
    parser.add_argument("--dist", type=Path, help="also time a publish of this dist/ directory and its rerun")
    parser.add_argument("--root", type=Path, default=ROOT, help="project root of --dist (default: this repo)")
    args = parser.parse_args()
    for name in ("NO_PROXY", "no_proxy"):  # children (curl, requests) must reach 127.0.0.1 directly
        os.environ[name] = "127.0.0.1,localhost"
    # imported here: the child processes must carry only what the publisher itself loads
    from localgitlab import LocalGitLab
    from hatch_mlbundle.tables import markdown_table

    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        blob = Path(tmp) / "blob.bin"
        with open(blob, "wb") as sparse:
            sparse.truncate(args.size_mib * 2**20)
        with LocalGitLab(Path(tmp) / "registry") as gl:
            gl.add_project(PROJECT, "bench/publish", visibility="private")
            gl.add_project(PROJECT + 1, "bench/release", visibility="private")
            gl.add_personal_token(TOKEN, user="bench", projects={PROJECT: "developer", PROJECT + 1: "developer"})
            gl.settings.pypi_max_file_size = gl.settings.generic_max_file_size = 8 * 2**30
            rows = upload_rows(gl, blob, args.repeat)
            blob.unlink()  # only the registry's copies are needed from here on
            if args.dist:
                rows += publish_rows(gl, args.dist.resolve(), args.root.resolve())
    print(markdown_table(["upload", "size", "wall s", "MiB/s", "CPU s", "vs curl PUT", "vs same-shape curl",
                          "peak RSS MiB", "target"], rows))
    print(f"\ntargets: wall <= {WALL_RATIO}x the same-shape curl, peak RSS <= {RSS_LIMIT_MIB} MiB; wall, CPU and RSS "
          "are the client process's own (the registry runs in the bench process)")


if __name__ == "__main__":
    main()
