"""Held-out metrics of what ships: accuracy, per-class accuracy, confusion matrix and latency of the
exported model on onnxruntime, its parity with the PyTorch model it was exported from, and its accuracy on
each realistic set (realistic.py: pictures made from held-out digits, through run-mnist's preprocessing).

`evaluate()` is what the build hook's gates call (`mnist_model.evaluate:evaluate`); parity is gated from
config alone (`parity_max_abs_diff`, `parity_argmax_mismatches`). Without an exported model beside the
weights, the PyTorch model's own figures. Needs the `train` extra (torch; onnxruntime comes with the package).
"""
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import load_split
from .inference import load_model
from .network import normalise
from .preprocess import field_of

LATENCY_IMAGES = 100
REALISTIC_PER_DIGIT = 20  # realistic pictures of the first 20 held-out digits of each class: 200 a set


def confusion(predicted, labels):
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def single_image_latency_ms(classify_one, images, count=LATENCY_IMAGES):
    """Median ms for one image, preprocessing included, as `run-mnist` on one file pays it (one thread:
    a 28x28 image gains nothing from more, and on a busy machine threads only wait for each other)."""
    pictures = [Image.frombytes("L", (28, 28), image.tobytes()) for image in images[: count + 1]]
    classify_one(field_of(pictures[0]))  # warm-up: the first call allocates
    times = []
    for picture in pictures[1:]:
        started = time.perf_counter()
        classify_one(field_of(picture))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def timed(function, *args, repeat=3):
    """(the result, the fastest wall of `repeat` calls): one call of a 1,000-image batch varies 2-3x with the
    allocator's first touches and the machine's other work."""
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args)
        walls.append(time.perf_counter() - started)
    return result, min(walls)


def onnx_figures(exported, images, reference):
    """The exported model's log-probabilities, latency and parity with the PyTorch model's."""
    import onnxruntime

    from .onnx_backend import classify_fields, load_session, log_probs

    session = load_session(exported, check_sha256=False, threads=1)  # the caller decides which sha256 is right
    log_probs(session, images[:64])  # warm-up
    output, seconds = timed(log_probs, session, images)
    figures = {
        "latency_ms": round(single_image_latency_ms(lambda field: classify_fields(session, [field]), images), 3),
        "batched_ms_per_image": round(seconds * 1000 / len(images), 4),
        "parity_max_abs_diff": float(np.abs(output - reference).max()),
        "parity_argmax_mismatches": int((output.argmax(1) != reference.argmax(1)).sum()),
        "onnxruntime_version": onnxruntime.__version__,
    }
    return output, figures


def torch_figures(model, images):
    from .inference import classify, normalise_fields

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        latency = single_image_latency_ms(lambda field: classify(model, normalise_fields([field])), images)
    finally:
        torch.set_num_threads(threads)
    return {"latency_ms": round(latency, 3)}


def realistic_pictures(name, images, labels):
    """(pictures, labels) of realistic.py's set `name` for the first REALISTIC_PER_DIGIT held-out digits a class."""
    from .realistic import render

    rows = np.concatenate([np.flatnonzero(labels == d)[:REALISTIC_PER_DIGIT] for d in range(10)])
    return render(name, images[rows], rows), labels[rows]


def realistic_figures(classify, images, labels):
    """{realistic_<set>: accuracy} of `classify` (uint8 [N, 28, 28] -> log-probabilities) on each set, through
    run-mnist's preprocessing; a picture preprocessing refuses counts as wrong."""
    from concurrent.futures import ThreadPoolExecutor

    from .preprocess import ImageError
    from .realistic import SETS

    def fields(name):
        pictures, truth = realistic_pictures(name, images, labels)
        made = []
        for picture in pictures:
            try:
                made.append(field_of(picture))
            except ImageError:
                made.append(bytes(784))  # blank: no digit found
        # writable (a bytearray): torch.from_numpy warns about a read-only array on the torch path
        return np.frombuffer(bytearray(b"".join(made)), np.uint8).reshape(-1, 28, 28), truth

    figures = {}
    with ThreadPoolExecutor(2) as pool:  # PIL and numpy release the GIL: two cores, half the wall
        for name, (pixels, truth) in zip(SETS, pool.map(fields, SETS)):
            figures[f"realistic_{name}"] = round(float((classify(pixels).argmax(1) == truth).mean()), 4)
    return figures


def evaluate(weights_path, data_dir, exported=None):
    """Metrics on the held-out (t10k) split of `data_dir`: of `exported` (default: the weights' .onnx
    sibling) when there is one, with parity against the weights; else of the weights themselves."""
    model = load_model(weights_path, check_sha256=False)  # the caller decides which sha256 is right
    images, labels = load_split(data_dir, train=False)
    with torch.inference_mode():
        reference, seconds = timed(lambda: model(normalise(images)).numpy())
    exported = Path(exported) if exported else Path(weights_path).with_suffix(".onnx")
    pixels = images.numpy()
    labels = labels.numpy()
    if exported.is_file():
        output, figures = onnx_figures(exported, pixels, reference)
        from .onnx_backend import load_session, log_probs

        session = load_session(exported, check_sha256=False)
        figures.update(realistic_figures(lambda batch: log_probs(session, batch), pixels, labels))
    else:
        output = reference
        figures = dict(torch_figures(model, pixels), batched_ms_per_image=round(seconds * 1000 / len(images), 4))
        with torch.inference_mode():
            figures.update(realistic_figures(lambda batch: model(normalise(torch.from_numpy(batch))).numpy(),
                                             pixels, labels))
    predicted = output.argmax(1)
    matrix = confusion(predicted, labels)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {
        "samples": len(labels),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "per_class_accuracy": {str(d): round(float(a), 4) for d, a in enumerate(per_class)},
        "confusion_matrix": matrix.tolist(),
        **figures,
    }


def format_report(metrics):
    """The metrics as a person reads them: summary lines and the confusion matrix."""
    lines = [
        f"held-out accuracy  {metrics['accuracy'] * 100:.2f}%  ({metrics['samples']} digits)",
        f"latency            {metrics['latency_ms']:.2f} ms/image single, {metrics['batched_ms_per_image']:.3f} ms/image batched",
    ]
    realistic = {k[len("realistic_"):]: v for k, v in metrics.items() if k.startswith("realistic_")}
    if realistic:
        lines.append("realistic sets     " + "  ".join(f"{k}:{v * 100:.1f}%" for k, v in realistic.items()))
    if "parity_max_abs_diff" in metrics:
        lines.append(f"parity with torch  max |diff| {metrics['parity_max_abs_diff']:.2e}, "
                     f"{metrics['parity_argmax_mismatches']} different answers (onnxruntime {metrics['onnxruntime_version']})")
    lines += [
        "per class          " + "  ".join(f"{d}:{a * 100:.0f}%" for d, a in metrics["per_class_accuracy"].items()),
        "confusion (rows = true digit, columns = predicted)",
        "      " + "".join(f"{d:>5}" for d in range(10)),
    ]
    lines += [f"{d:>5} " + "".join(f"{n:>5}" for n in row) for d, row in enumerate(metrics["confusion_matrix"])]
    return "\n".join(lines)
