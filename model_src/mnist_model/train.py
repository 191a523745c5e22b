"""Training, in the spirit of pytorch/examples mnist/main.py: readable top to bottom.

Differences from the tutorial, and why:
* the whole dataset lives in one tensor: batches are slices, not per-sample PIL
  transforms through a DataLoader (that loop is where the tutorial spends its time);
* the default regimen adds random affine, elastic and low-resolution augmentation (augment.py), AdamW
  and a one-cycle schedule with batches of 128, because 4,000 digits are too few for 3
  epochs of plain SGD (regimen.py says how it was chosen);
* dropout 0.1, not 0.5: the tutorial's rate leaves this small net under-fitted;
* the weights are channels_last while training, a quarter faster on a CPU;
* a seeded generator drives shuffling and augmentation, torch's seeded global one dropout, and torch runs
  in deterministic mode, so the same inputs give bit-identical weights;
* weights are written to a temp file and renamed: an interrupted run never
  leaves a half-written file.
"""
import dataclasses
import math
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from . import distributed
from .atomic import replace_atomically, write_json_atomic
from .augment import distort
from .data import load_split
from .inference import sha256_file
from .network import MNIST_MEAN, MNIST_STD, Net, normalise  # noqa: F401 (normalise: bench_model.py's import)
from .regimen import REGIMENS, TRAIN_THREADS, Regimen, regimen_from  # noqa: F401 (REGIMENS, Regimen: callers' imports)


def train_epoch(model, optimizer, scheduler, images, labels, regimen, generator, order, batch_size, world=None):
    """One pass over `order` (this process's samples) in batches of `batch_size` (its share of the regimen's);
    returns (mean loss, accuracy) over every process."""
    model.train()
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        data, target = images[index], labels[index]
        if regimen.augment:
            data = distort(data, generator, regimen.distortions)
        data = (data - MNIST_MEAN) / MNIST_STD
        if world:
            data, target = data.to(world.device), target.to(world.device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(index)
        correct += (output.argmax(dim=1) == target).sum().item()
    count = len(order)
    if world:  # the epoch's figures over every shard
        total_loss, correct, count = distributed.total([total_loss, correct, count], world)
    return total_loss / count, correct / count


def make_optimizer(model, regimen, steps):
    if regimen.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            model.parameters(), lr=regimen.lr, momentum=regimen.momentum, weight_decay=regimen.weight_decay
        )
    elif regimen.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=regimen.lr, weight_decay=regimen.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {regimen.optimizer!r}; use 'sgd' or 'adamw'")
    scheduler = None
    if regimen.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=regimen.lr, total_steps=steps)
    elif regimen.schedule != "constant":
        raise ValueError(f"unknown schedule {regimen.schedule!r}; use 'onecycle' or 'constant'")
    return optimizer, scheduler


def fit(images, labels, regimen, log=None, world=None):
    """Train a fresh Net on uint8 images; `log(epoch, epochs, loss, accuracy)` reports progress.

    With a `world` (distributed.join()), this process trains one DDP replica on its shard of each epoch;
    returns the Net itself, unwrapped.
    """
    torch.manual_seed(regimen.seed)
    was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # One thread: a net this small gains little from two, and on a shared machine two threads wait for each
    # other (an epoch measured 0.5 s on one thread, 3-7 s on two, with other work running); the same
    # weights on any number of cores, too. More cores: more processes (torchrun), one thread each.
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _fit(images, labels, regimen, log, world)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)


def _fit(images, labels, regimen, log, world):
    # Augmentation differs per rank (seed + rank); the shuffle is one per epoch, split by rank.
    generator = torch.Generator().manual_seed(regimen.seed + (world.rank if world else 0))
    # channels_last weights (a 1-channel batch is already in that layout): oneDNN's convolutions on one thread
    # take a quarter less time (an epoch 0.24 s instead of 0.32 s)
    net = Net(regimen.dropout).to(memory_format=torch.channels_last)
    if world:  # rank 0's initial weights everywhere (DDP broadcasts them), but each rank its own dropout
        torch.manual_seed(regimen.seed + world.rank)
        model = distributed.wrap(net, world)
    else:
        model = net
    data = images.float().div(255).view(-1, 1, 28, 28)  # ink in 0..1; normalised per batch, after distortion
    size = world.size if world else 1
    if regimen.batch_size % size:
        raise ValueError(f"batch_size {regimen.batch_size} cannot be shared equally by {size} processes; "
                         "choose a number of processes that divides it")
    share, batch_size = math.ceil(len(data) / size), regimen.batch_size // size  # DistributedSampler's share
    steps = regimen.epochs * math.ceil(share / batch_size)
    optimizer, scheduler = make_optimizer(model, regimen, steps)
    for epoch in range(1, regimen.epochs + 1):
        if world:
            order = distributed.shard(len(data), world, epoch, regimen.seed)
        else:
            order = torch.randperm(len(data), generator=generator)
        loss, accuracy = train_epoch(model, optimizer, scheduler, data, labels, regimen, generator, order,
                                     batch_size, world)
        if log:
            log(epoch, regimen.epochs, loss, accuracy)
    net.to(memory_format=torch.contiguous_format)  # saved weights in the usual layout
    if world:
        distributed.check_replicas(net, world)
    return net


def save_atomic(obj, path):
    replace_atomically(path, lambda handle: torch.save(obj, handle))


def progress_reporter(log, epochs):
    """Per-epoch lines to `log(str)` when given (the build hook's display), else a tqdm bar."""
    if log is not None:
        return lambda epoch, total, loss, accuracy: log(
            f"epoch {epoch}/{total}  loss {loss:.4f}  train accuracy {accuracy * 100:.1f}%"
        )
    from tqdm import tqdm

    bar = tqdm(total=epochs, unit="epoch", desc="training", leave=True)

    def update(epoch, total, loss, accuracy):
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy * 100:.1f}%")
        bar.update(1)
        if epoch == total:
            bar.close()

    return update


def train(data_dir, weights_path, regimen="default", log=None, **overrides):
    """Train on the `train` split; write the weights, then their manifest (`<weights>.json`), atomically.

    The manifest records what the runner checks (sha256) and what training did (hyper-parameters,
    samples, time, torch version, where it ran). Metrics are not measured here: `evaluate()` does that, once,
    for whoever asks (the build hook records them in its lock and the model card; `mnist-model train` prints
    them). This is the function the build hook calls (`mnist_model.train:train`).

    Started by torchrun, every process trains a replica (distributed.py). The first process of each machine
    reports (the epoch's figures over every process, so each machine shows the run), writes rank 0's weights
    (checked bit for bit) and returns the manifest; the others return None.
    """
    chosen = regimen_from(regimen, **overrides) if isinstance(regimen, str) else regimen
    images, labels = load_split(data_dir, train=True)
    world = distributed.join()
    try:
        started = time.perf_counter()
        report = progress_reporter(log, chosen.epochs) if world is None or world.local_rank == 0 else None
        model = fit(images, labels, chosen, log=report, world=world)
        seconds = time.perf_counter() - started
        if world is not None and world.local_rank != 0:
            return None
        weights_path = Path(weights_path)
        save_atomic(model.state_dict(), weights_path)
        manifest = {
            "sha256": sha256_file(weights_path),
            "hyperparameters": dataclasses.asdict(chosen),
            "train_samples": len(images),
            "train_seconds": round(seconds, 1),
            "torch_version": torch.__version__,
            **distributed.describe(world),
        }
        write_json_atomic(manifest, weights_path.with_suffix(".json"))
        return manifest
    finally:
        distributed.leave(world)
