"""Held-out metrics: accuracy, per-class accuracy, confusion matrix, per-image latency.

`evaluate()` is what the build hook's gates call (`mnist_model.evaluate:evaluate`).
"""
import statistics
import time

import torch
from PIL import Image

from .data import load_split
from .inference import classify, load_model
from .network import normalise
from .preprocess import prepare

LATENCY_IMAGES = 100


def confusion(predicted, labels):
    matrix = torch.zeros(10, 10, dtype=torch.long)
    matrix.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    return matrix


def single_image_latency_ms(model, images, count=LATENCY_IMAGES):
    """Median ms for one image, preprocessing included, as `run-mnist` on one file pays it.

    One thread: a single 28x28 image gains nothing from more, and on a busy
    machine extra threads only wait for each other (a noisy gate helps nobody).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pictures = [Image.frombytes("L", (28, 28), image.numpy().tobytes()) for image in images[: count + 1]]
        classify(model, prepare(pictures[0])[None])  # warm-up: first call allocates
        times = []
        for picture in pictures[1:]:
            started = time.perf_counter()
            classify(model, prepare(picture)[None])
            times.append((time.perf_counter() - started) * 1000)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times)


def evaluate(weights_path, data_dir):
    """Metrics of the weights on the held-out (t10k) split of `data_dir`."""
    model = load_model(weights_path, check_sha256=False)  # the caller decides which sha256 is right
    images, labels = load_split(data_dir, train=False)
    started = time.perf_counter()
    with torch.inference_mode():
        predicted = model(normalise(images)).argmax(dim=1)
    batch_ms = (time.perf_counter() - started) * 1000 / len(images)
    matrix = confusion(predicted, labels)
    per_class = (matrix.diag().float() / matrix.sum(dim=1).clamp(min=1)).tolist()
    return {
        "samples": len(labels),
        "accuracy": round((predicted == labels).float().mean().item(), 4),
        "per_class_accuracy": {str(d): round(a, 4) for d, a in enumerate(per_class)},
        "confusion_matrix": matrix.tolist(),
        "latency_ms": round(single_image_latency_ms(model, images), 3),
        "batched_ms_per_image": round(batch_ms, 4),
    }


def format_report(metrics):
    """The metrics as a person reads them: summary lines and the confusion matrix."""
    lines = [
        f"held-out accuracy  {metrics['accuracy'] * 100:.2f}%  ({metrics['samples']} digits)",
        f"latency            {metrics['latency_ms']:.2f} ms/image single, {metrics['batched_ms_per_image']:.3f} ms/image batched",
        "per class          " + "  ".join(f"{d}:{a * 100:.0f}%" for d, a in metrics["per_class_accuracy"].items()),
        "confusion (rows = true digit, columns = predicted)",
        "      " + "".join(f"{d:>5}" for d in range(10)),
    ]
    lines += [f"{d:>5} " + "".join(f"{n:>5}" for n in row) for d, row in enumerate(metrics["confusion_matrix"])]
    return "\n".join(lines)
