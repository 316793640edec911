"""How the training step uses the hardware: mixed precision, memory format, torch.compile."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from timm.utils import dispatch_clip_grad
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ltcli.choices import AMP_MODES, SWITCH_MODES
from ltcli.engine.distributed import Dist
from ltcli.engine.threads import ThreadTuner
from ltcli.errors import LtcliError
from ltcli.models.heads import TrainStep


@dataclass
class Compute:
    """Autocast dtype (None = float32), GradScaler (fp16 only), channels_last and gradient clipping."""

    device: torch.device
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False
    clip_grad: float | None = None  # max global L2 norm of the gradients (--clip-grad), None: no clipping
    threads: ThreadTuner | None = None  # a CPU run's intra-op thread count (--threads), measured under auto

    @property
    def amp_name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def images(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            self.clip(optimizer)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if self.clip_grad is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            self.clip(optimizer)
        self.scaler.step(optimizer)  # skips the step when fp16 gradients overflowed
        self.scaler.update()

    def clip(self, optimizer: torch.optim.Optimizer) -> None:
        if self.clip_grad is not None:
            dispatch_clip_grad([p for group in optimizer.param_groups for p in group["params"] if p.grad is not None],
                               self.clip_grad)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), as PyTorch's cpuinfo reports it.

    `torch.ops.mkldnn._is_mkldnn_bf16_supported()` is not the test: it also says yes on plain AVX512,
    where oneDNN emulates bf16 (not measured here; emulation is not expected to beat float32)."""
    cpu = torch.cpu
    checks = (getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


def resolve_compute(amp: str, channels_last: str, device: torch.device, clip_grad: float | None = None) -> Compute:
    """`auto`: bf16 autocast (it needs no loss scaling) where the hardware has it: a CUDA GPU that
    supports it, or a CPU with native bf16 (cpu_has_native_bf16); float32 elsewhere. channels_last
    `auto`: on under CUDA, and on a CPU under bf16 (oneDNN's bf16 convolutions ran 1.3-2.4x faster on
    NHWC tensors, see benchmarks/bf16_cpu_results.md); off for float32 on a CPU."""
    if amp not in AMP_MODES:
        raise LtcliError(f"unknown --amp {amp!r}: choose one of {', '.join(AMP_MODES)}")
    if channels_last not in SWITCH_MODES:
        raise LtcliError(f"unknown --channels-last {channels_last!r}: choose one of {', '.join(SWITCH_MODES)}")
    cuda = device.type == "cuda"
    if amp == "auto":
        native = torch.cuda.is_bf16_supported() if cuda else device.type == "cpu" and cpu_has_native_bf16()
        amp = "bf16" if native else "off"
    dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    scaler = torch.amp.GradScaler(device.type) if dtype is torch.float16 else None
    last = channels_last == "on" or (channels_last == "auto" and (cuda or dtype is torch.bfloat16))
    return Compute(device, dtype, scaler, last, clip_grad)


def prepare_model(
    model: nn.Module, compute: Compute, compile_model: bool, features: bool = False, dist: Dist | None = None
) -> nn.Module:
    """The module a training step calls, `step(images, targets) -> {"logits": ..., extra outputs}` (TrainStep).

    channels_last is applied to `model` in place; under torchrun the step is wrapped in
    DistributedDataParallel (which averages gradients only through its own forward, hence one
    module for all of a step's outputs); torch.compile optionally wraps the lot. Checkpoints keep
    using `model` itself, whose keys carry no `module.` or `_orig_mod.` prefix.
    """
    if compute.channels_last:
        model.to(memory_format=torch.channels_last)
    step: nn.Module = TrainStep(model, features)
    if dist is not None and dist.enabled:
        device_ids = [compute.device.index] if compute.device.type == "cuda" else None
        step = DistributedDataParallel(step, device_ids=device_ids)
    return torch.compile(step) if compile_model else step
