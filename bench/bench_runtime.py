"""What a consumer installs and runs: the torch-free default (model.onnx on onnxruntime) against the torch
backend and the tutorial's runner, side by side in one run; prints a table.

    .venv/bin/python bench/bench_runtime.py        # about 2 minutes on 2 cores
    .venv/bin/python bench/bench_runtime.py --out /tmp/runtime.md

The default runs as a consumer has it: the wheel (built here in verify mode) pip-installed into a fresh
venv from the wheelhouse, its own `run-mnist`. The torch backend is `run-mnist --backend torch` with the
committed model.pth, from .venv (torch 2.14.1, the CUDA build PyPI serves on Linux); the tutorial's runner
(bench/reference_tutorial.py) classifies the same files with the same weights. The torch install's size is
what .venv holds for torch, nvidia-* and triton: what `pip install torch` brings. Same 1,000 held-out
digits as PNGs (white-on-black 28x28) for every figure.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, ROOT, machine_line, markdown_table, median, progress, publish, run_child, verdict

REFERENCE = ROOT / "bench" / "reference_tutorial.py"
WEIGHTS = ROOT / "model_src" / "mnist_model" / "weights"
HEADERS = ("measure", "default (onnxruntime)", "torch backend", "tutorial runner", "default vs", "target", "verdict")
REPEAT = 5


def held_out_pngs(directory):
    """[(path, label)] of the 1,000 held-out digits as PNGs, written by a child: this process never imports
    torch, whose memory every child it starts would otherwise count in its own peak RSS (Linux keeps it)."""
    code = ("import sys; from mnist_model.samples import write_pngs; "
            "write_pngs(sys.argv[1], sys.argv[2], style='white-on-black', size=28)")
    subprocess.run([PYTHON, "-c", code, ROOT / "data", directory], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "model_src")})
    return [(path, int(path.stem.rpartition("_")[2])) for path in sorted(Path(directory).glob("*.png"))]


def tree_mib(paths):
    return sum(f.stat().st_size for p in paths for f in Path(p).rglob("*") if f.is_file()) / 2**20


def consumer_venv(tmp):
    """The wheel, installed as `pip install mnist-model` would, into a fresh venv; (venv, install seconds)."""
    progress("building the wheel (verify mode) and installing it into a fresh venv from the wheelhouse")
    subprocess.run([PYTHON, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist", ROOT],
                   check=True, capture_output=True, env={**os.environ, "MLBUNDLE_MODE": "verify"})
    venv = tmp / "venv"
    subprocess.run([PYTHON, "-m", "venv", venv], check=True)
    wheel = next((tmp / "dist").glob("*.whl"))
    install = run_child([venv / "bin" / "pip", "install", "--quiet", "--no-index", "--find-links",
                         ROOT / ".wheelhouse", wheel])
    return venv, install.wall


def commands(venv, target):
    pattern = str(Path(target) / "*.png") if Path(target).is_dir() else str(target)
    return {
        "default": [venv / "bin" / "run-mnist", target],
        "torch": [PYTHON, "-m", "mnist_model.cli", "--backend", "torch", "--weights", WEIGHTS / "model.pth", target],
        "tutorial": [PYTHON, REFERENCE, "run", "--weights", WEIGHTS / "model.pth", "--image", pattern],
    }


def measure(venv, target, repeat):
    """{runner: [Child, ...]}, the runners alternated so a passing load hits them alike."""
    runs = {name: [] for name in commands(venv, target)}
    for _ in range(repeat):
        for name, argv in commands(venv, target).items():
            runs[name].append(run_child(argv, env={"PYTHONPATH": str(ROOT / "model_src")} if name == "torch" else None))
    return runs


def accuracy(stdout, written):
    seen = {line.rpartition(": Image is a ")[0]: int(line[-1]) for line in stdout.splitlines() if ": Image is a " in line}
    return sum(seen.get(str(path)) == label for path, label in written) / len(written)


def decode_only(written):
    """Seconds per image to open and decode the PNGs with PIL in this process: the floor for any runner."""
    from PIL import Image

    started = time.perf_counter()
    for path, _ in written:
        with Image.open(path) as image:
            image.load()
    return (time.perf_counter() - started) / len(written)


def in_process(venv, pattern, count):
    """Seconds per image of the installed run-mnist's own main() in its venv, start-up excluded."""
    code = ("import io, sys, time, contextlib; from mnist_model.runner import main; from mnist_model.api import "
            "BUNDLED as W\nwith contextlib.redirect_stdout(io.StringIO()):\n main([sys.argv[1]], W)\n"
            " t = time.perf_counter(); main([sys.argv[1]], W); print(time.perf_counter() - t, file=sys.stderr)")
    out = subprocess.run([venv / "bin" / "python", "-c", code, pattern], capture_output=True, text=True, check=False)
    return float(out.stderr.strip().splitlines()[-1]) / count


def rows(tmp):
    venv, install_s = consumer_venv(tmp)
    site = next((venv / "lib").glob("python*/site-packages"))
    outer = Path(next(p for p in sys.path if p.endswith("site-packages")))
    torch_mib = tree_mib([p for p in outer.iterdir() if p.name.split("-")[0] in ("torch", "triton")
                          or p.name.startswith("nvidia")])
    default_mib = tree_mib([site])
    written = held_out_pngs(tmp / "pngs")
    progress(f"three runners on {len(written)} PNGs, then {REPEAT} times each on one")
    full = {name: runs[0] for name, runs in measure(venv, tmp / "pngs", 1).items()}
    single = measure(venv, written[0][0], REPEAT)
    wall = {name: median(c.wall for c in runs) for name, runs in single.items()}
    rss = {name: max(c.rss_mib for c in runs) for name, runs in single.items()}
    acc = {name: accuracy(full[name].stdout, written) for name in ("default", "torch")}
    per_image = in_process(venv, str(tmp / "pngs" / "*.png"), len(written))
    floor = decode_only(written)
    return [
        ["site-packages of a fresh venv after installing the wheel (MiB)", f"{default_mib:.0f}",
         f"{torch_mib:,.0f} (torch, nvidia, triton)", "", f"1/{torch_mib / default_mib:.0f} of torch", "<= 1/20",
         verdict(default_mib * 20 <= torch_mib)],
        ["install time from the wheelhouse, no index (s)", f"{install_s:.1f}", "", "", "", "", "-"],
        [f"cold start, one image (s, median of {REPEAT})", f"{wall['default']:.2f}", f"{wall['torch']:.2f}",
         f"{wall['tutorial']:.2f}", f"{wall['default'] / wall['tutorial']:.2f}x tutorial", "<= 0.06x",
         verdict(wall["default"] <= 0.06 * wall["tutorial"])],
        ["peak RSS, one image (MiB)", f"{rss['default']:.0f}", f"{rss['torch']:.0f}", f"{rss['tutorial']:.0f}",
         "", "<= 80", verdict(rss["default"] <= 80)],
        [f"{len(written):,} PNGs end to end (s)", f"{full['default'].wall:.2f}", f"{full['torch'].wall:.2f}",
         f"{full['tutorial'].wall:.2f}", f"{full['default'].wall / full['tutorial'].wall:.2f}x tutorial", "<= 0.10x",
         verdict(full["default"].wall <= 0.10 * full["tutorial"].wall)],
        ["per image without start-up, in process (ms)", f"{per_image * 1000:.3f}", "", "",
         f"{per_image / floor:.2f}x PIL open+decode ({floor * 1000:.3f} ms)", "<= 1.5x", verdict(per_image <= 1.5 * floor)],
        [f"run-mnist accuracy, {len(written):,} held-out PNGs", f"{acc['default']:.1%}", f"{acc['torch']:.1%}", "",
         f"{(acc['default'] - acc['torch']) * 100:+.1f} points", "within 0.1", verdict(abs(acc["default"] - acc["torch"]) <= 0.001)],
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table, as markdown, to this file")
    args = parser.parse_args(argv)
    machine = machine_line()
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        table = rows(Path(tmp))
    notes = ["The default is the installed wheel's own `run-mnist` (model.onnx, onnxruntime; no torch in its "
             "venv). Per image in process: the installed `mnist_model.runner.main` on all the PNGs minus nothing "
             "but the warm-up run, against PIL opening and decoding the same files in this process."]
    publish("Consumer runtime: onnxruntime vs the torch backend", machine, [markdown_table(HEADERS, table)], notes,
            args.out)


if __name__ == "__main__":
    main()
