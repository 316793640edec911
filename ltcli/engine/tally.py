"""What an epoch of training adds up, kept on the device: loss and top-1/top-5 hits weighted by images,
the confusion counts of the training predictions, and the first batch whose loss was not finite. Read
once at the end of the epoch (`EpochTally.totals`): a per-batch `.item()` would make the CPU wait for
the GPU every step. Under torchrun the counts are reduced over the processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltcli.engine.distributed import Dist
from ltcli.errors import LtcliError
from ltcli.metrics import class_scores, worst_class_summary
from ltcli.run_folder import LAST_CHECKPOINT

NO_BAD_BATCH = 2**62  # "no non-finite loss yet", larger than any batch number (reduced with min)


@dataclass
class EpochTally:
    sums: torch.Tensor  # float64 [loss * n, top-1 hits, top-5 hits]
    first_bad: torch.Tensor  # the first batch with a non-finite loss, else NO_BAD_BATCH
    confusion: torch.Tensor | None  # true * K + predicted counts, when the epoch reports GM/HM/lowest recall
    num_classes: int | None = None
    seen: int = 0

    @classmethod
    def on(cls, device: torch.device, num_classes: int | None = None) -> EpochTally:
        confusion = torch.zeros(num_classes ** 2, device=device, dtype=torch.long) if num_classes else None
        return cls(torch.zeros(3, device=device, dtype=torch.float64),
                   torch.full((), NO_BAD_BATCH, device=device, dtype=torch.long), confusion, num_classes)

    def add(self, batch: int, loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Count one batch (no host sync)."""
        self.first_bad = torch.where((self.first_bad == NO_BAD_BATCH) & ~torch.isfinite(loss), batch, self.first_bad)
        self.sums += torch.cat([(loss.double() * targets.numel()).view(1), topk_correct(logits, targets)])
        if self.confusion is not None:
            cells = targets * self.num_classes + predicted_classes(logits)
            self.confusion.scatter_add_(0, cells, torch.ones_like(cells))  # no host sync, unlike bincount
        self.seen += targets.numel()

    def totals(self, epoch: int, dist: Dist, lr: float) -> dict[str, float]:
        """The epoch's train row (one host sync): loss, acc, top5acc, lr and, with confusion counts, GM,
        HM and lowest recall; an error for a non-finite loss or an epoch in which nothing decoded."""
        totals = epoch_totals(self.sums, self.seen, self.first_bad, epoch, dist, lr)
        if self.confusion is not None:
            matrix = dist.sum_(self.confusion).cpu().numpy().reshape(self.num_classes, self.num_classes)
            totals.update(worst_class_summary(class_scores(matrix)["recall"]))
        return totals


def epoch_totals(sums: torch.Tensor, seen: int, first_bad: torch.Tensor, epoch: int, dist: Dist,
                 lr: float) -> dict[str, float]:
    """The epoch's train row from the device-side sums (one host sync), or an error for a
    non-finite loss or an epoch in which nothing decoded."""
    device = sums.device
    bad_batch = int(dist.min_(first_bad))
    if bad_batch != NO_BAD_BATCH:
        raise LtcliError(
            f"the loss became NaN or infinite at epoch {epoch + 1}, batch {bad_batch + 1}: stopped; the last "
            f"good checkpoint is {LAST_CHECKPOINT} (try a lower --lr)"
        )
    totals = torch.cat([sums, torch.tensor([seen], dtype=torch.float64).to(device)])
    total_loss, top1, top5, seen = dist.sum_(totals).tolist()
    if seen == 0:
        raise LtcliError(
            f"no training image of epoch {epoch + 1} decoded: every file failed to load "
            "(`ltcli stats` lists the bad files)"
        )
    return {
        "loss": total_loss / max(seen, 1),
        "acc": top1 / max(seen, 1),
        "top5acc": top5 / max(seen, 1),
        "lr": lr,
    }


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """The top-1 class of each row, as ltcli.metrics predicts (a tie goes to the lower index; one
    binary logit: z > 0 is positive)."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def topk_correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[top-1 hits, top-5 hits] of a batch as a device tensor (single-logit binary: z > 0 is positive)."""
    if logits.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    hits = top == targets[:, None]
    return torch.stack([hits[:, 0].sum(), hits.any(dim=1).sum()])
