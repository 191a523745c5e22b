"""Weights by reference: the fetcher against curl on a 1 GiB blob, and a no-op build with a warm cache against
the same build with the weights in git; on the local GitLab registry over loopback. Prints a markdown table.

    .venv/bin/python bench/bench_fetch.py                 # 1 GiB, best of 3
    .venv/bin/python bench/bench_fetch.py --size-mib 256 --repeat 1

Each download runs in a child process measured by GNU time (its own wall time and peak RSS; the registry
runs in this process). The blob is sparse (no disk to make it); both contestants write it to the same disk:
curl to a file, the fetcher into a cold cache (streamed, hashed while written, moved in atomically).
"Verify with remote weights, cold cache" costs what a verify build costs plus this fetch: the fetch row is
the part that weights by reference add. The no-op builds are `python -m build --wheel --no-isolation` of two
copies of this project (tests/helpers.copy_project): weights in git, and weights pushed with `weights push`,
out of git and of the tree, the cache warm; the registry's request log must not grow during the latter.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PYTHON, ROOT, machine_line, markdown_table, median, progress, run_child, verdict

sys.path.insert(0, str(ROOT / "tests"))
from helpers import copy_project  # noqa: E402

PROJECT = 4243
TOKEN = "bench-token-not-secret"
WALL_RATIO, RSS_LIMIT_MIB, NOOP_TOLERANCE = 1.3, 150, 0.10
WEIGHTS = "model_src/mnist_model/weights/model.pth"
ONNX = "model_src/mnist_model/weights/model.onnx"
LOCK = "model_src/mnist_model/weights/mlbundle.lock"
FETCH_CHILD = ("import sys; from pathlib import Path; from hatch_mlbundle import fetch; "
               "fetch.fetch(sys.argv[1], sys.argv[2], int(sys.argv[3]), headers={'PRIVATE-TOKEN': sys.argv[4]}, "
               "root=Path(sys.argv[5]))")


def upload(gl, blob: Path, name: str) -> str:
    url = f"{gl.api_url}/projects/{PROJECT}/packages/generic/bench/1.0/{name}"
    subprocess.run(["curl", "-sS", "--fail", "-o", os.devnull, "-H", f"PRIVATE-TOKEN: {TOKEN}", "--upload-file",
                    str(blob), url], check=True)
    return url


def fetch_rows(gl, tmp: Path, size_mib: int, repeat: int, out: Path) -> list[list[str]]:
    from hatch_mlbundle.files import file_digests

    blob = tmp / "blob.bin"
    with open(blob, "wb") as sparse:
        sparse.truncate(size_mib << 20)
    sha = file_digests(blob)["sha256"]
    url = upload(gl, blob, "blob.bin")
    blob.unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    curl, ours = [], []
    for round_number in range(repeat):
        target = out / "curl.bin"
        progress(f"curl {size_mib} MiB, round {round_number + 1}")
        os.sync()
        curl.append(run_child(["curl", "-sS", "--fail", "-o", target, "-H", f"PRIVATE-TOKEN: {TOKEN}", url]))
        target.unlink()
        cache = out / f"cache-{round_number}"
        progress(f"fetcher {size_mib} MiB into a cold cache, round {round_number + 1}")
        os.sync()
        ours.append(run_child([PYTHON, "-c", FETCH_CHILD, url, sha, size_mib << 20, TOKEN, cache], env=env))
        assert (cache / "blobs" / "sha256" / sha).stat().st_size == size_mib << 20
        shutil.rmtree(cache)
    best_curl, best_ours = min(c.wall for c in curl), min(c.wall for c in ours)
    rss = max(c.rss_mib for c in ours)
    where = f", written to {out.parent}" if out.parent != tmp else ""
    return [
        [f"fetch {size_mib} MiB, cold cache (Range-resumable, sha256 while written, atomic move){where}",
         f"{best_ours:.2f} s ({size_mib / best_ours:.0f} MiB/s)", f"curl -o: {best_curl:.2f} s",
         f"{best_ours / best_curl:.2f}x", f"<= {WALL_RATIO}x curl", verdict(best_ours <= WALL_RATIO * best_curl)],
        [f"peak RSS while fetching {size_mib} MiB", f"{rss:.0f} MiB",
         f"curl: {max(c.rss_mib for c in curl):.0f} MiB", "-", f"<= {RSS_LIMIT_MIB} MiB", verdict(rss <= RSS_LIMIT_MIB)],
    ]


def noop_rows(gl, tmp: Path, repeat: int) -> list[list[str]]:
    in_git = copy_project(tmp / "in-git")
    by_ref = copy_project(tmp / "by-reference")
    env = {"GITLAB_TOKEN": TOKEN, "MLBUNDLE_CACHE": str(tmp / "build-cache"),
           "MLBUNDLE_MODE": "verify", "PYTHONPATH": str(ROOT)}
    run_child([PYTHON, "-m", "hatch_mlbundle", "weights", "push", WEIGHTS, ONNX, "--lock", LOCK, "--url", gl.api_url,
               "--project", str(PROJECT)], env=env, cwd=by_ref)
    git = ["git", "-C", by_ref, "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(git + ["rm", "-q", "--cached", WEIGHTS, ONNX], check=True)
    with open(by_ref / ".gitignore", "a") as ignore:
        ignore.write(f"{WEIGHTS}\n{ONNX}\n")
    subprocess.run(git + ["commit", "-qam", "weights by reference"], check=True)  # as the team would: clean tree
    for name in (WEIGHTS, ONNX):
        (by_ref / name).unlink()
    build = [PYTHON, "-m", "build", "--wheel", "--no-isolation"]
    run_child(build + [by_ref], env=env)  # fetches: the cache is warm from here on
    run_child(build + [in_git], env=env)
    seen = len(gl.requests)
    walls: dict[str, list[float]] = {"git": [], "ref": []}
    for round_number in range(repeat):
        progress(f"no-op builds, round {round_number + 1}")
        walls["git"].append(run_child(build + [in_git], env=env).wall)
        for name in (WEIGHTS, ONNX):  # a fresh clone: the links are gone, the cache is not
            (by_ref / name).unlink()
        walls["ref"].append(run_child(build + [by_ref], env=env).wall)
    requests = len(gl.requests) - seen
    git, ref = median(walls["git"]), median(walls["ref"])
    return [
        ["no-op build (verify), weights by reference, warm cache, links gone (a fresh clone)", f"{ref:.2f} s",
         f"weights in git: {git:.2f} s", f"{ref / git:.2f}x", f"same +/- {NOOP_TOLERANCE:.0%}",
         verdict(abs(ref / git - 1) <= NOOP_TOLERANCE)],
        ["requests to the registry during those builds", str(requests), "-", "-", "0", verdict(requests == 0)],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the blob (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="fetch rounds; the best is shown (default 3)")
    parser.add_argument("--out-dir", type=Path, help="where curl and the cache write (default: the temp dir; "
                        "/dev/shm takes the disk's write-back out of the comparison)")
    parser.add_argument("--builds", type=int, default=7, help="no-op build pairs; the median is shown (default 7)")
    args = parser.parse_args()
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = "127.0.0.1,localhost"
    from localgitlab import LocalGitLab

    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp_name:
        tmp = Path(tmp_name)
        with LocalGitLab(tmp / "registry") as gl:
            gl.add_project(PROJECT, "bench/fetch", visibility="private")
            gl.add_personal_token(TOKEN, user="bench", projects={PROJECT: "developer"})
            gl.settings.generic_max_file_size = 8 << 30
            with tempfile.TemporaryDirectory(prefix="bench-fetch-", dir=args.out_dir) as out:
                rows = fetch_rows(gl, tmp, args.size_mib, args.repeat, Path(out))
            rows += noop_rows(gl, tmp, args.builds) if args.builds else []
    print("\n\n".join([machine_line(), markdown_table(["measure", "ours", "reference", "ours vs reference", "target",
                                                        "verdict"], rows)]))


if __name__ == "__main__":
    main()
