"""Images/second of the data path alone (decode + the train transform, in DataLoader workers) at 224 px,
against plain torchvision ImageFolder with the same transform, and against a ResNet-50 training step,
so a user sees whether the loader or the model is the bottleneck.

    python benchmarks/jpeg_loader.py                 # 500x375 (ImageNet-LT-like) and 1000x750 JPEGs
    python benchmarks/jpeg_loader.py --quick         # CI: a few images, one tiny model step
    python benchmarks/jpeg_loader.py --workers 8 --sizes 500x375

Rows: `ImageFolder` (torchvision, PIL decode at full size, timm's train transform); `ltcli list` (the
list dataset with the same transform, Pillow's full decode); `ltcli list + draft` (what `ltcli train`
uses, built by its own code: `open_data` of a TrainConfig and `make_loader`: the random-resized crop
drawn first, the JPEG decoded at 1/2, 1/4 or 1/8 by Pillow's draft where the crop keeps its detail, else
by torchvision's decode_jpeg with the crop sliced and resized by torch's uint8 kernel,
ltcli.data.fastjpeg); `decode_jpeg + v2` (all-tensor transforms, for reference). For 500x375 images at
224 px the crop never allows a reduction (a crop side is at most 375 < 2 x 224), so every train image
takes decode_jpeg there; the table says how often the draft path reduced.
The model row is one SGD step of ResNet-50 at 224 px (bf16 autocast where the CPU has bf16 support).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from torch.utils.data import DataLoader, Dataset

from ltcli.config import TrainConfig
from ltcli.data.fastjpeg import largest_reduction
from ltcli.data.list_index import parse_list
from ltcli.data.lists import ListDataset
from ltcli.data.loaders import collate_decoded, make_loader
from ltcli.data.transforms import build_transform
from ltcli.engine.assemble import open_data


def make_jpegs(root: Path, count: int, width: int, height: int, classes: int = 10) -> Path:
    """`count` JPEGs of natural-ish content (smooth colour fields plus texture), a train list and a val list
    (one image per class: `ltcli train` needs a validation split)."""
    rng = np.random.default_rng(0)
    lines = []
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        label = i % classes
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack([np.sin(x / rng.uniform(20, 90) + phase[c]) * np.cos(y / rng.uniform(20, 90))
                         for c in range(3)], -1)
        pixels = np.clip(128 + 90 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        relative = f"train/c{label:02d}/img{i:05d}.JPEG"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / relative, quality=90)
        lines.append(f"{relative} {label}")
    (root / "bench_train.txt").write_text("\n".join(lines) + "\n")
    (root / "bench_val.txt").write_text("\n".join(lines[:classes]) + "\n")
    return root / "bench_train.txt"


class DecodeJpeg(Dataset):
    """torchvision.io.decode_jpeg on the file bytes, then tensor transforms (v2) of the same recipe."""

    def __init__(self, paths: list[str], size: int) -> None:
        from torchvision.transforms import v2

        self.paths = paths
        self.transform = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
            v2.ColorJitter(0.4, 0.4, 0.4), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from torchvision.io import ImageReadMode, decode_jpeg, read_file

        return self.transform(decode_jpeg(read_file(self.paths[index]), mode=ImageReadMode.RGB)), 0


def plain_loader(dataset: Dataset, workers: int, batch: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=collate_decoded,
                      persistent_workers=False, generator=torch.Generator().manual_seed(0))


def train_loader(root: Path, size: int, workers: int, batch: int) -> DataLoader:
    """The train split's DataLoader exactly as `ltcli train --data ROOT --height S --width S` builds it."""
    config = TrainConfig(data=str(root), height=size, width=size, batch_size=batch, workers=workers)
    _, _, data, augment = open_data(config, Console(quiet=True))
    assert augment == "timm", augment
    return make_loader(data.train, batch, True, workers, torch.device("cpu"), seed=0)


def images_per_second(loader: DataLoader, batches: int) -> float:
    iterator = iter(loader)
    next(iterator)  # workers started, first batch out: not timed
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        try:
            images, _ = next(iterator)
        except StopIteration:
            break
        seen += len(images)
    return seen / (time.perf_counter() - start)


def bf16_cpu() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def model_images_per_second(batch: int, steps: int, size: int, model_name: str) -> tuple[float, str]:
    """One SGD step of `model_name` (timm) on random inputs, images/s after a warmup step."""
    import timm

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = timm.create_model(model_name, num_classes=1000).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    use_bf16 = device.type == "cuda" or bf16_cpu()
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    label = f"{model_name} {device.type} " + ("bf16" if use_bf16 else "fp32")
    return batch * steps / (time.perf_counter() - start), label


def reduction_share(list_file: Path, root: Path, size: int, samples: int = 200) -> float:
    """How often the train crop allowed a reduced decode (drawn as the loader draws it)."""
    crop = build_transform(size, size, True, "timm").transforms[0]
    index = parse_list(list_file)
    reduced = 0
    for i in range(min(samples, len(index))):
        with Image.open(root / index.path(i)) as image:
            _, _, h, w = crop.get_params(image, crop.scale, crop.ratio)
        reduced += largest_reduction(w, h, size, size) > 1
    return reduced / min(samples, len(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few images and batches, one small model step")
    parser.add_argument("--sizes", default="500x375,1000x750", help="JPEG sizes WxH, comma-separated")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=24, help="timed batches per data path and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all paths, each in a rotated order; the "
                        "table gives the median images/s and the median of each round's ratio (this VM's "
                        "throughput drifts by up to 2x between runs, so one round proves little)")
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.images, args.batches, args.batch, args.workers = "500x375", 48, 3, 8, min(args.workers, 2)
        args.rounds = 1
    torch.manual_seed(0)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    train = build_transform(args.size, args.size, True, "timm")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in sizes:
            root = Path(tmp) / f"{width}x{height}"
            list_file = make_jpegs(root, args.images, width, height)
            index = parse_list(list_file)
            names = [str(i) for i in range(10)]
            paths = [str(root / index.path(i)) for i in range(len(index))]
            from torchvision.datasets import ImageFolder

            loaders = {
                "ImageFolder (torchvision)": plain_loader(ImageFolder(str(root / "train"), transform=train),
                                                          args.workers, args.batch),
                "ltcli list": plain_loader(ListDataset(index, root, names, train), args.workers, args.batch),
                "ltcli list + draft (train default)": train_loader(root, args.size, args.workers, args.batch),
                "decode_jpeg + v2 (reference)": plain_loader(DecodeJpeg(paths, args.size), args.workers, args.batch),
            }
            names_in_order = list(loaders)
            rounds: list[dict[str, float]] = []
            for turn in range(args.rounds):
                order = names_in_order[turn % len(names_in_order):] + names_in_order[:turn % len(names_in_order)]
                rounds.append({name: images_per_second(loaders[name], args.batches) for name in order})
            share = reduction_share(list_file, root, args.size)
            for name in names_in_order:
                speed = statistics.median(r[name] for r in rounds)
                ratio = statistics.median(r[name] / r["ImageFolder (torchvision)"] for r in rounds)
                spread = f"{min(r[name] / r['ImageFolder (torchvision)'] for r in rounds):.2f}-" \
                         f"{max(r[name] / r['ImageFolder (torchvision)'] for r in rounds):.2f}"
                rows.append((f"{width}x{height}", name, speed, ratio, share, spread))
    model_speed, model_label = model_images_per_second(2 if args.quick else args.batch, 1 if args.quick else 5,
                                                       args.size, args.model)
    print(f"data path at {args.size} px, {args.workers} worker(s), batch {args.batch} "
          f"(cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.1f}):")
    print(f"{args.rounds} round(s) of {args.batches} batches per path: median images/s, median ratio (range)")
    print(f"{'images':>10}  {'path':<36} {'images/s':>9}  {'vs ImageFolder':>14}  {'range':>9}  {'vs model':>8}")
    for size, name, speed, ratio, _, spread in rows:
        print(f"{size:>10}  {name:<36} {speed:9.1f}  {ratio:14.2f}  {spread:>9}  {speed / model_speed:8.2f}")
    for size in dict.fromkeys(r[0] for r in rows):
        share = next(r[4] for r in rows if r[0] == size)
        print(f"{size}: the train crop allowed a reduced JPEG decode (draft) for {share:.0%} of images; "
              "the others were decoded by decode_jpeg")
    print(f"model step: {model_label}, {model_speed:.1f} images/s "
          f"(batch {2 if args.quick else args.batch}); a data path with 'vs model' >= 1 keeps up")
    print("command: python benchmarks/jpeg_loader.py " + ("--quick" if args.quick else f"--sizes {args.sizes} "
          f"--workers {args.workers} --batch {args.batch} --batches {args.batches} --rounds {args.rounds}"))


if __name__ == "__main__":
    main()
