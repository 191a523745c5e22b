"""The model package against the tutorial pipeline (bench/reference_tutorial.py), side by side; prints a table.

    .venv/bin/python bench/bench_model.py                  # about 5 minutes on 2 cores
    .venv/bin/python bench/bench_model.py --quick --out /tmp/model.md
    .venv/bin/python bench/bench_model.py --threads 1        # both sides on one torch thread

Same data for both: the 4,000 / 1,000 split in data/.  Everything either side trains goes to a
temp directory (the repository's weights are never touched).  Measured:

* training throughput with the tutorial's hyper-parameters: `mnist_model.train.fit` on tensors vs
  the tutorial's DataLoader loop, in this process, alternated, median of the repetitions
  (target >= 5x);
* held-out accuracy of our default regimen (trained once, as the build hook does) and of the
  tutorial's (target >= 98.0%);
* `run-mnist` vs the tutorial's runner, as child processes, on the 1,000 held-out digits as PNGs,
  white-on-black 28x28 and black-on-white 200x200: accuracy (target >= 97% on both) and time per
  image without start-up, (wall on 1,000 - wall on 1) / 999 (target >= 10x faster);
* cold start on one image: wall (median) and peak RSS of the child (target <= 0.5x the wall).
"""
import argparse
import contextlib
import glob
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from common import HEADERS, PYTHON, ROOT, machine_line, markdown_table, median, progress, publish, run_child, verdict

sys.path.insert(0, str(ROOT / "model_src"))

import torch  # noqa: E402

import reference_tutorial  # noqa: E402
from mnist_model.data import load_split  # noqa: E402
from mnist_model.runner import main as run_mnist  # noqa: E402
from mnist_model.samples import write_pngs  # noqa: E402
from mnist_model.evaluate import evaluate  # noqa: E402
from mnist_model.export import export  # noqa: E402
from mnist_model.train import fit, normalise, regimen_from, train  # noqa: E402

REFERENCE = Path(reference_tutorial.__file__)
MODEL_ENV = {"PYTHONPATH": str(ROOT / "model_src")}
# style -> (size, what the row calls it)
STYLES = {"white-on-black": (28, "white-on-black 28x28"), "black-on-white": (200, "black-on-white 200x200")}
OUR_LINE = re.compile(r"^(?P<file>.+): Image is a (?P<digit>\d)$", re.MULTILINE)
THROUGHPUT_TARGET, ACCURACY_TARGET, RUNNER_ACCURACY_TARGET = 5.0, 0.98, 0.97
PER_IMAGE_TARGET, COLD_START_TARGET = 10.0, 0.5
IN_PROCESS_GLOB = "0[01]??_*.png"  # the first 200 of write_pngs' `<index>_<label>.png`


def held_out_accuracy(model, data_dir):
    images, labels = load_split(data_dir, train=False)
    model.eval()
    with torch.inference_mode():
        return (model(normalise(images)).argmax(dim=1) == labels).float().mean().item()


def training_rows(data_dir, tmp, repetitions):
    """Throughput and accuracy with the tutorial's hyper-parameters; returns (rows, reference weights, its summary)."""
    images, labels = load_split(data_dir, train=True)
    regimen = regimen_from("tutorial")
    reference_weights = tmp / "reference.pth"
    ours, theirs = [], []
    for repetition in range(1, repetitions + 1):
        progress(f"training, tutorial hyper-parameters, {repetition}/{repetitions}: ours (fit on tensors)")
        started = time.perf_counter()
        model = fit(images, labels, regimen)
        ours.append(regimen.epochs * len(images) / (time.perf_counter() - started))
        progress(f"training, tutorial hyper-parameters, {repetition}/{repetitions}: reference (DataLoader)")
        summary = reference_tutorial.train(data_dir, reference_weights, log=None)
        theirs.append(summary["samples_per_second"])
    ratio = median(ours) / median(theirs)
    rows = [
        [f"training throughput, tutorial hyper-parameters (samples/s, median of {repetitions})",
         f"{median(ours):.0f}", f"{median(theirs):.0f}", f"{ratio:.2f}x", f">= {THROUGHPUT_TARGET:.0f}x",
         verdict(ratio >= THROUGHPUT_TARGET)],
        ["held-out accuracy, tutorial hyper-parameters (3 epochs SGD)", percent(held_out_accuracy(model, data_dir)),
         percent(summary["accuracy"]), "", "", "-"],
    ]
    return rows, reference_weights, summary


def default_regimen_rows(data_dir, tmp, reference_summary):
    """Our default regimen, trained once as the build hook trains it; returns (rows, weights)."""
    progress("training our default regimen (the build hook's train())")
    weights = tmp / "ours" / "model.pth"
    manifest = train(data_dir, weights, log=lambda line: None)
    export(weights)  # model.onnx beside it, as the hook does: run-mnist's default backend runs it
    metrics = evaluate(weights, data_dir)  # train() does not evaluate; this is the build's one evaluation
    accuracy = metrics["accuracy"]
    rows = [
        ["held-out accuracy: our default regimen vs the tutorial's", percent(accuracy),
         percent(reference_summary["accuracy"]), "", f">= {ACCURACY_TARGET:.1%}", verdict(accuracy >= ACCURACY_TARGET)],
        ["training time: our default regimen vs the tutorial's 3 epochs (s)", f"{manifest['train_seconds']:.1f}",
         f"{reference_summary['train_seconds']:.1f}", "", "", "-"],
        ["parity of model.onnx with the PyTorch model, 1,000 held-out digits: max |diff|, different answers",
         f"{metrics['parity_max_abs_diff']:.1e}, {metrics['parity_argmax_mismatches']}", "", "", "<= 1e-4, 0",
         verdict(metrics["parity_max_abs_diff"] <= 1e-4 and metrics["parity_argmax_mismatches"] == 0)],
    ]
    return rows, weights.with_suffix(".onnx")


def percent(fraction):
    return f"{fraction:.1%}"


class Runner:
    """One of the two command lines, and how to read which digit it saw in which file."""

    def __init__(self, name, weights):
        self.name = name
        self.weights = weights

    def command(self, target):
        """`target` is a directory of PNGs or one PNG."""
        if self.name == "ours":
            return [PYTHON, "-m", "mnist_model.cli", "--weights", self.weights, target]
        pattern = str(Path(target) / "*.png") if Path(target).is_dir() else str(target)
        return [PYTHON, REFERENCE, "run", "--weights", self.weights, "--image", pattern]

    def run(self, target):
        return run_child(self.command(target), env=MODEL_ENV if self.name == "ours" else None)

    def call(self, pattern):
        """The same work in this process, output discarded: no start-up to subtract."""
        if self.name == "ours":
            with contextlib.redirect_stdout(io.StringIO()):
                run_mnist(["--weights", str(self.weights), "--image", pattern])
        else:
            reference_tutorial.run(self.weights, pattern, show=lambda line: None)

    def digits(self, target, stdout):
        """{file: digit} from the output of a run on the directory `target`."""
        if self.name == "ours":
            return {match["file"]: int(match["digit"]) for match in OUR_LINE.finditer(stdout)}
        seen = [int(line.rsplit(" ", 1)[1]) for line in stdout.splitlines() if line.startswith("Image is a ")]
        return dict(zip(sorted(glob.glob(str(Path(target) / "*.png"))), seen))


def runner_rows(data_dir, tmp, runners, repetitions):
    """Accuracy and per-image time on the held-out PNGs, then the cold start; one pair of rows per style."""
    accuracy_rows, speed_rows, cold = [], [], {}
    for style, (size, label) in STYLES.items():
        directory = tmp / style
        written = write_pngs(data_dir, directory, style=style, size=size)
        progress(f"both runners on {len(written)} {label} PNGs, then {repetitions} times each on one")
        full = {runner.name: runner.run(directory) for runner in runners}
        singles = {runner.name: [] for runner in runners}
        for _ in range(repetitions):
            for runner in runners:  # alternated, so that a load that comes and goes hits both alike
                singles[runner.name].append(runner.run(written[0][0]))
        accuracy, per_image, spread = {}, {}, {}
        for runner in runners:
            predicted = runner.digits(directory, full[runner.name].stdout)
            accuracy[runner.name] = sum(predicted.get(str(p)) == digit for p, digit in written) / len(written)
            walls = [child.wall for child in singles[runner.name]]
            per_image[runner.name] = (full[runner.name].wall - median(walls)) / (len(written) - 1)
            # Start-up jitter spread over the images: below this, a per-image figure is noise.
            spread[runner.name] = (max(walls) - min(walls)) / (len(written) - 1)
        if style == "white-on-black":
            cold = singles
        ok = accuracy["ours"] >= RUNNER_ACCURACY_TARGET
        accuracy_rows.append([f"run-mnist accuracy, {len(written)} held-out {label}", percent(accuracy["ours"]),
                              percent(accuracy["reference"]), "", f">= {RUNNER_ACCURACY_TARGET:.0%}", verdict(ok)])
        ms = {name: f"{per_image[name] * 1000:.2f} ± {spread[name] * 1000:.2f}" for name in per_image}
        if all(per_image[name] > spread[name] for name in per_image):
            speedup = per_image["reference"] / per_image["ours"]
            ratio, judged = f"{speedup:.1f}x faster", verdict(speedup >= PER_IMAGE_TARGET)
        else:
            ratio, judged = "below the noise", "noise"
        speed_rows.append([f"run-mnist time per image without start-up, {label} (ms)", ms["ours"],
                           ms["reference"], ratio, f">= {PER_IMAGE_TARGET:.0f}x faster", judged])
        speed_rows.append(in_process_row(runners, directory, written, label))
    return accuracy_rows + speed_rows + cold_start_rows(cold, repetitions)


def in_process_row(runners, directory, written, label):
    """Per-image time with both runners called in this process on the first IN_PROCESS images.

    The subprocess figure is (wall on 1,000 - wall on 1) / 999, and a start-up that varies by tenths
    of a second hides sub-millisecond differences; here there is no start-up to subtract.
    """
    subset = str(directory / IN_PROCESS_GLOB)
    count = len(glob.glob(subset))
    per_image = {}
    for runner in runners:
        runner.call(str(written[0][0]))  # warm-up: first calls allocate and import lazily
        started = time.perf_counter()
        runner.call(subset)
        many = time.perf_counter() - started
        started = time.perf_counter()
        runner.call(str(written[0][0]))
        per_image[runner.name] = (many - (time.perf_counter() - started)) / (count - 1)
    speedup = per_image["reference"] / per_image["ours"]
    return [f"time per image in this process, {count} {label} (ms)", f"{per_image['ours'] * 1000:.2f}",
            f"{per_image['reference'] * 1000:.2f}", f"{speedup:.1f}x faster", f">= {PER_IMAGE_TARGET:.0f}x faster",
            verdict(speedup >= PER_IMAGE_TARGET)]


def cold_start_rows(cold, repetitions):
    wall = {name: median(c.wall for c in runs) for name, runs in cold.items()}
    rss = {name: max(c.rss_mib for c in runs) for name, runs in cold.items()}
    ratio = wall["ours"] / wall["reference"]
    return [
        [f"cold start, one image (s, median of {repetitions})", f"{wall['ours']:.2f}", f"{wall['reference']:.2f}",
         f"{ratio:.2f}x", f"<= {COLD_START_TARGET}x", verdict(ratio <= COLD_START_TARGET)],
        ["peak RSS, one image (MiB)", f"{rss['ours']:.0f}", f"{rss['reference']:.0f}",
         f"{rss['ours'] / rss['reference']:.2f}x", "", "-"],
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="dataset root (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (1 training run, 3 cold starts)")
    parser.add_argument("--out", type=Path, help="also write the table, as markdown, to this file")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch threads on both sides, here and in the runners (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the runners' children inherit it
    machine = machine_line(f"torch threads {torch.get_num_threads()}")  # before the load we add ourselves
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        tmp = Path(tmp)
        rows, reference_weights, reference_summary = training_rows(args.data_dir, tmp, 1 if args.quick else 3)
        default_rows, our_weights = default_regimen_rows(args.data_dir, tmp, reference_summary)
        runners = [Runner("ours", our_weights), Runner("reference", reference_weights)]
        rows += default_rows + runner_rows(args.data_dir, tmp, runners, 3 if args.quick else 5)
    notes = [
        "Reference: bench/reference_tutorial.py (torchvision MNIST + DataLoader, SGD lr 0.01 momentum 0.5, "
        "3 epochs, seed 42; its runner imports torch and torchvision and classifies one file at a time). "
        "Ours: `mnist_model.train.fit` / `train`, and `python -m mnist_model.cli --weights <ours>.onnx` (run-mnist "
        "on its default backend, onnxruntime; no torch imported).",
        "Both runners use the weights their own pipeline just trained on the same 4,000 digits; time per image "
        "is (wall on 1,000 - median wall on 1) / 999, ± (slowest - fastest wall on 1) / 999: the start-up "
        "jitter, below which a per-image figure is noise.",
        f"Whole benchmark: {time.perf_counter() - started:.0f} s.",
    ]
    publish("Model package vs the tutorial pipeline", machine, [markdown_table(HEADERS, rows)], notes, args.out)


if __name__ == "__main__":
    main()
