"""Training on several processes with torch.distributed, when a launcher such as torchrun started this one.

The launcher sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous (MASTER_ADDR/PORT); nothing here starts a
process or knows who did. Each process trains a replica on its own shard of every epoch (DistributedSampler);
DDP averages the gradients, so every replica holds the same weights after every step. The device is chosen
here: a GPU per process (NCCL) when there are enough, else the CPU (gloo).
"""
import dataclasses
import hashlib
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device
    backend: str


def join():
    """The world this process belongs to, its process group joined; None for a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    # cuBLAS refuses deterministic mode (fit() asks for it) unless told its workspace, before CUDA starts
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_size
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    # The launcher's store (env://), under a prefix per attempt: after an elastic restart the store still holds
    # the previous attempt's addresses, and gloo would dial the dead workers.
    store, rank, size = next(dist.rendezvous("env://"))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(backend, store=dist.PrefixStore(f"attempt-{attempt}/", store), rank=rank, world_size=size)
    return World(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)


def leave(world):
    if world is not None and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model, world):
    """The model DDP trains: its parameters start as rank 0's, its gradients are averaged over the world."""
    from torch.nn.parallel import DistributedDataParallel

    model.to(world.device)
    return DistributedDataParallel(model, device_ids=[world.device] if world.device.type == "cuda" else None)


def shard(count, world, epoch, seed):
    """This rank's sample indices for `epoch`: DistributedSampler's (one shuffle per epoch, split by rank)."""
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(count), num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler))


def total(values, world):
    """Element-wise sums over the world (e.g. loss and correct counts, for the epoch's log line)."""
    summed = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(summed)
    return summed.tolist()


def digest(model):
    hasher = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher.digest()


def check_replicas(model, world):
    """Every rank holds rank 0's weights bit for bit, or training failed: whoever writes writes rank 0's.
    The digests travel as tensors (all_gather_object would unpickle what peers send)."""
    mine = torch.tensor(list(digest(model)), dtype=torch.uint8, device=world.device)
    everyone = [torch.empty_like(mine) for _ in range(world.size)]
    dist.all_gather(everyone, mine)
    versions = {bytes(d.cpu().tolist()) for d in everyone}
    if len(versions) != 1:
        raise RuntimeError(f"the replicas' weights differ after training ({len(versions)} versions)")


def describe(world):
    """What the manifest (and the build's lock) records about where training ran."""
    if world is None:
        return {"world_size": 1, "device": "cpu", "backend": None}
    return {"world_size": world.size, "device": world.device.type, "backend": world.backend}
