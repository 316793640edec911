"""Data-parallel training across processes started by `torchrun` (one process per device).

`torchrun --nproc_per_node N -m ltcli train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; `fit` then
joins the process group here. Every process runs the same loop on its share of each batch;
DistributedDataParallel averages the gradients, so with `--batchsize B` each optimizer step still
sees B images in all, as in a single-process run. Only rank 0 writes files or prints.

Besides the main group (NCCL on CUDA, gloo on CPU), a small gloo group carries the control flags
(stop requested, files that failed to decode): a few bytes between host CPUs, which never makes
the host wait for the GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ltcli.errors import LtcliError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    control: Any = None  # the gloo process group for host-side flags

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over all processes, in place (a no-op in a single process)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def min_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
        return tensor

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag True on every process as soon as one process says True (one small host-side
        all-reduce for all of them)."""
        if not self.enabled:
            return flags
        values = torch.tensor([int(flag) for flag in flags], dtype=torch.int32)
        dist.all_reduce(values, op=dist.ReduceOp.MAX, group=self.control)
        return tuple(bool(v) for v in values.tolist())

    def union_(self, flags: torch.Tensor) -> torch.Tensor:
        """OR a boolean CPU tensor (e.g. a dataset's failed-file flags) over all processes, in place."""
        if self.enabled:
            merged = flags.to(torch.int32)
            dist.all_reduce(merged, op=dist.ReduceOp.MAX, group=self.control)
            flags.copy_(merged.bool())
        return flags

    def gather(self, value: Any) -> list[Any]:
        """Every process's `value` (any picklable object), in rank order, on every process."""
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value, group=self.control)
        return out

    def concat(self, arrays: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Each array concatenated over the processes (rank order): the whole validation set's
        predictions from every process's shard. Metrics ignore the order of samples."""
        if not self.enabled:
            return list(arrays)
        gathered = self.gather(list(arrays))
        out: list[np.ndarray | None] = []
        for i in range(len(arrays)):
            # A process with an empty shard (fewer samples than processes, or none decoded) has
            # nothing to add, and may not know the arrays' shapes.
            parts = [p[i] for p in gathered if p[i] is not None and len(p[i])]
            out.append(np.concatenate(parts) if parts else gathered[0][i])
        return out

    def same_buffers(self, *modules: nn.Module) -> None:
        """Give every process rank 0's buffers (BatchNorm running statistics). DDP shares them at
        the start of each forward, but each process's own last batch then updates its copy (and its
        EMA of them): without this, processes would validate slightly different models."""
        if self.enabled:
            for module in modules:
                for buffer in module.buffers():
                    dist.broadcast(buffer, src=0)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every process."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def distributed(device_name: str) -> Iterator[tuple[Dist, str]]:
    """Join the process group when launched by torchrun; yields (Dist, the device this process uses).

    On CUDA each process takes the GPU of its LOCAL_RANK; on CPU the processes share the host.
    """
    if not launched_by_torchrun():
        yield Dist(), device_name
        return
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise LtcliError("--device cuda asked for, but PyTorch sees no CUDA GPU: use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise LtcliError(
                f"torchrun started {local_rank + 1}+ processes on this node but it has "
                f"{torch.cuda.device_count()} GPU(s): use --nproc_per_node {torch.cuda.device_count()}"
            )
        torch.cuda.set_device(local_rank)
        device_name, backend = f"cuda:{local_rank}", "nccl"
    else:
        device_name, backend = "cpu", "gloo"
    dist.init_process_group(backend=backend)
    control = dist.new_group(backend="gloo") if backend != "gloo" else None
    try:
        yield Dist(rank, world_size, local_rank, backend, control), device_name
    finally:
        dist.destroy_process_group()
