"""torchrun / DistributedDataParallel plumbing: one process per device, rank 0 does all the talking."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """What torchrun put in the environment (a plain run is rank 0 of 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        world=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
    )


def init(info: DistInfo, device: torch.device) -> None:
    if info.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when it is true on any: all ranks must leave the loop at the same step."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's decision on every rank (clocks differ between machines, rank 0's budget rules)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item() > 0)


def gather_to_main(obj, info: DistInfo) -> list | None:
    """Every rank's `obj`, in rank order, on rank 0 (None elsewhere); [obj] in a plain run."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world if info.main else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
