"""What the ranks of a data-parallel run exchange, on which device, and which rows each reads.

NCCL reduces CUDA tensors only (a CPU tensor raises "No backend type associated with device
type cpu"), so every collective here puts its tensor on the model's device, and on CUDA the
process group is `cpu:gloo,cuda:nccl`. Each rank binds its own card (`LOCAL_RANK`) before any
CUDA call, or every rank would allocate on the first one. Gradients are summed as one flat
buffer: one collective a step, not one per LoRA matrix. Every rank shuffles the rows with the
same seed and reads its own slice of that shuffle (`permutation[rank::world]`), so the shards
of an epoch never overlap.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

RANK = int(os.environ.get("RANK", "0"))
WORLD = int(os.environ.get("WORLD_SIZE", "1"))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", "0"))


def start(device_type: str) -> None:
    """Join the process group (a no-op for a single process); bind this rank's card first."""
    if WORLD <= 1:
        return
    if device_type == "cuda":
        torch.cuda.set_device(LOCAL_RANK)
        dist.init_process_group("cpu:gloo,cuda:nccl")
    else:
        dist.init_process_group("gloo")


def sum_values(values: list[float], device: torch.device) -> torch.Tensor:
    """These numbers summed over the ranks (as float64, on the model's device)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if WORLD > 1:
        dist.all_reduce(tensor)
    return tensor


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when any rank says so (a stop request reaches every rank at the same step)."""
    return bool(sum_values([float(flag)], device)[0] > 0)


def sum_gradients(parameters: list[torch.Tensor]) -> None:
    """Every gradient summed over the ranks, in one collective over one flat buffer."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if WORLD <= 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for grad in grads:
        count = grad.numel()
        grad.copy_(flat[offset : offset + count].view_as(grad))
        offset += count


def rows_for(
    micro_index: int, micro_batch: int, n: int, seed: int, rank: int = RANK, world: int = WORLD
) -> torch.Tensor:
    """The packed rows of one micro-batch on this rank: a fresh shuffle every epoch, fixed by
    the seed (so a resumed run sees exactly the batches an uninterrupted one would have seen),
    of which this rank reads its own slice."""
    shard = len(range(rank, n, world)) if n >= world else n
    epoch, offset = divmod(micro_index * micro_batch, shard)
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    mine = permutation[rank::world] if n >= world else permutation
    return mine[[(offset + k) % shard for k in range(micro_batch)]]
