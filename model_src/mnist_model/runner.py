"""The `run-mnist` command line: tutorial-compatible, batched, and loud only about real problems.

Runs the exported model on onnxruntime by default (`--backend torch` for the PyTorch path); images are
decoded in a thread pool (PIL's decoders release the GIL) and classified in one batch.
Also pasted into the stand-alone run_mnist.py: only PIL, the stdlib and the modules before it here.
"""
import argparse
import glob
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .backends import BACKENDS, choose, load
from .checksums import WeightsError
from .preprocess import ImageError, field_of

UNCLEAR = 3  # exit status when some image was unclear (under --min-confidence) and none failed
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


def build_parser(prog):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Classify handwritten digits (any size, dark-on-light or light-on-dark) with the MNIST network.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files, directories or glob patterns")
    parser.add_argument(
        "--image", action="append", default=[], metavar="GLOB", help="glob pattern, as in the tutorial (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="candidates per image in --json (1-10)")
    parser.add_argument("--min-confidence", type=float, metavar="P",
                        help="below this probability (0-1) say the image is unclear, with the two likeliest "
                             f"digits, and exit {UNCLEAR} if nothing else failed")
    parser.add_argument("--weights", metavar="PATH",
                        help="another model: an .onnx file, or a state_dict (.pth) for the torch backend")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="onnx (onnxruntime, the default) or torch (PyTorch: pip install 'mnist-model[torch]')")
    return parser


def expand(pattern):
    """Files named by one argument: a file, a directory's images, or a glob's matches."""
    path = Path(pattern)
    if path.is_dir():
        # not only regular files: a pipe named like an image is reported on its own line, not dropped in silence
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
        if not found:
            raise ImageError(f"directory has no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
        return [str(p) for p in found]
    if glob.has_magic(pattern) and not path.exists():
        found = sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise ImageError("no file matches this pattern")
        return found
    return [pattern]


def report(prog, name, problem):
    print(f"{prog}: {name}: {problem}", file=sys.stderr)


def _field(name):
    try:
        return field_of(name), None
    except ImageError as exc:
        return None, exc


def prepare_files(names, threads=None):
    """[(field or None, ImageError or None)] per file, in order; several files decode in a thread pool."""
    threads = min(threads or os.cpu_count() or 1, 8, len(names))
    if threads < 2:
        return [_field(name) for name in names]
    # A slice of files per task: a future per file costs more than decoding a 28x28 PNG (and
    # ThreadPoolExecutor.map ignores chunksize).
    size = -(-len(names) // (threads * 4))
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(lambda part: [_field(name) for name in part], [names[i:i + size] for i in range(0, len(names), size)])
        return [result for part in parts for result in part]


def collect(prog, arguments):
    """Prepared 28x28 fields and their file names; every unusable input reported on one line, in order."""
    items = []  # (name, problem or None) in the order given
    for argument in arguments:
        try:
            items += [(name, None) for name in expand(argument)]
        except ImageError as exc:
            items.append((argument, exc))
    prepared = iter(prepare_files([name for name, problem in items if problem is None]))
    names, fields, failures = [], [], 0
    for name, problem in items:
        field, problem = next(prepared) if problem is None else (None, problem)
        if problem is not None:
            report(prog, name, problem)
            failures += 1
        else:
            names.append(name)
            fields.append(field)
    return names, fields, failures


def main(argv=None, default_weights=None, prog="run-mnist"):
    """Run the command; returns the exit status (0 ok, 1 some input failed, 2 usage error, 3 some image
    unclear under --min-confidence and none failed).

    `default_weights` maps backends to the bundled files, the preferred first ({"onnx": ..., "torch": ...}).
    """
    parser = build_parser(prog)
    args = parser.parse_intermixed_args(argv)
    arguments = args.image + args.paths
    if not arguments:
        parser.error("give images: --image 'digits/*.png' or paths")
    if not 1 <= args.top_k <= 10:
        parser.error("--top-k must be between 1 and 10")
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        parser.error("--min-confidence must be a probability between 0 and 1")
    try:
        backend, model = load(*choose(args.weights, args.backend, default_weights))
    except WeightsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    names, fields, failures = collect(prog, arguments)
    unclear = 0
    try:
        if fields:
            results = backend.classify_fields(model, fields, top_k=max(args.top_k, 2))
            several = len(names) + failures > 1
            for name, (digit, confidence, top) in zip(names, results):
                doubt = args.min_confidence is not None and confidence < args.min_confidence
                unclear += doubt
                print(describe(name, several, digit, confidence, top, args, doubt))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): stop quietly like cat does; devnull keeps the exit-time flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 1 if failures else UNCLEAR if unclear else 0


def describe(name, several, digit, confidence, top, args, doubt):
    """One output line: JSON, "Image is a 7", or "Image is unclear: 1 (0.51) or 7 (0.46)"."""
    if args.json:
        candidates = [{"digit": d, "probability": round(p, 6)} for d, p in top[: args.top_k]]
        record = {"file": name, "digit": digit, "confidence": round(confidence, 6), "top_k": candidates}
        if args.min_confidence is not None:
            record["unclear"] = bool(doubt)
        return json.dumps(record)
    text = f"Image is unclear: {top[0][0]} ({top[0][1]:.2f}) or {top[1][0]} ({top[1][1]:.2f})" if doubt else \
        f"Image is a {digit}"
    return f"{name}: {text}" if several else text


def exit_now(status):
    """Flush and leave without the interpreter's teardown of torch (~0.5 s and ~130 MB at exit).

    For the command's entry points only: nothing is left to clean up once the output is written.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = status or 1
    os._exit(status)
