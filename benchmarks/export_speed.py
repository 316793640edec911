"""How fast an exported model predicts on this CPU: PyTorch float32 and bf16 (autocast) against ONNX
Runtime float32 and int8 (static quantization, `ltcli export --quantize int8`), at batch 1 and 64,
for ResNet-32 at 32 px and ResNet-50 at 224 px. Random weights: speed does not depend on them.

The network's forward only (images already decoded and normalised: decoding costs the same on every
path). The variants run interleaved, round after round, so a change of load hits them alike; the
median images/s of the rounds is reported. Each path uses the same number of threads.

    python benchmarks/export_speed.py --quick                 # resnet32 @ 32 px only, short rounds
    python benchmarks/export_speed.py                         # both networks (several CPU-minutes)
    python benchmarks/export_speed.py --run logs/.../STAMP    # also the int8 model's test accuracy

With --run, the run is exported with --quantize int8 into a temporary folder, and the card's int8
and float32 test accuracies are printed (int8 calibrated on train/, measured on the whole test/).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_data import at_least_one

from ltcli.export.network import ExportNet
from ltcli.export.onnx_model import export_onnx, open_session
from ltcli.export.quantize import quantize_int8
from ltcli.models import create_model

NETWORKS = {"resnet32": 32, "resnet50": 224}
VARIANTS = ("torch-fp32", "torch-bf16", "ort-fp32", "ort-int8")


def predictors(name: str, side: int, folder: Path, threads: int) -> dict[str, Callable[[np.ndarray], object]]:
    """variant -> a function classifying one batch [N, 3, side, side]."""
    torch.manual_seed(0)
    net = ExportNet(create_model(name, num_classes=100).eval(), 100, one_logit=False).eval()
    export_onnx(net, torch.randn(2, 3, side, side), folder / "model.onnx")
    quantize_int8(folder / "model.onnx", folder / "model.int8.onnx", torch.randn(32, 3, side, side), "images")
    fp32, int8 = open_session(folder / "model.onnx", threads), open_session(folder / "model.int8.onnx", threads)

    def torch_predict(bf16: bool) -> Callable[[np.ndarray], object]:
        def predict(images: np.ndarray) -> object:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return net(torch.from_numpy(images))
        return predict

    return {"torch-fp32": torch_predict(False), "torch-bf16": torch_predict(True),
            "ort-fp32": lambda x: fp32.run(None, {"images": x}), "ort-int8": lambda x: int8.run(None, {"images": x})}


def images_per_second(predict: Callable[[np.ndarray], object], images: np.ndarray, seconds: float) -> float:
    """Batches until `seconds` pass (at least 3), after one warm-up batch."""
    predict(images)
    done, start = 0, time.perf_counter()
    while done < 3 or time.perf_counter() - start < seconds:
        predict(images)
        done += 1
    return done * len(images) / (time.perf_counter() - start)


def measure(name: str, side: int, batches: list[int], rounds: int, seconds: float, threads: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        variants = predictors(name, side, Path(scratch), threads)
        print(f"{name} @ {side} px: exported and quantized in {time.perf_counter() - started:.1f} s", flush=True)
        rng = np.random.default_rng(0)
        for batch in batches:
            images = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
            rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for _ in range(rounds):
                for variant in VARIANTS:
                    rates[variant].append(images_per_second(variants[variant], images, seconds))
            base = statistics.median(rates["torch-fp32"])
            print(f"\n{name} @ {side} px, batch {batch}: median images/s over {rounds} round(s)")
            print("| variant | images/s | vs torch-fp32 | rounds |\n|---|---:|---:|---|")
            for variant in VARIANTS:
                median = statistics.median(rates[variant])
                print(f"| {variant} | {median:.0f} | {median / base:.2f}x | "
                      f"{', '.join(f'{r:.0f}' for r in rates[variant])} |", flush=True)


def int8_accuracy(run: Path) -> None:
    from ltcli.export.bundle import export_run
    from ltcli.run_folder import RunFolder

    with tempfile.TemporaryDirectory() as scratch:
        result = export_run(RunFolder(run), Path(scratch) / "model", quantize="int8")
    int8 = result.int8
    print(f"\n{run}: test accuracy int8 {int8['int8_acc']:.4f}, float32 {int8['float_acc']:.4f} "
          f"(int8 - float32: {-int8['acc_drop_points']:+.2f} points); balanced {int8['int8_balanced_acc']:.4f} vs "
          f"{int8['float_balanced_acc']:.4f}; same top-1 on {100 * int8['agreement']:.1f}% of {int8['images']} images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per variant per round")
    parser.add_argument("--threads", type=at_least_one, default=None, help="default: torch's thread count")
    parser.add_argument("--run", type=Path, default=None, help="a trained run: also the int8 test accuracy")
    parser.add_argument("--quick", action="store_true", help="resnet32 only, 1 round of 0.5 s per variant")
    args = parser.parse_args()
    if args.quick:
        args.networks, args.rounds, args.seconds = "resnet32", 1, 0.5
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s) on every path", flush=True)
    for name in filter(None, args.networks.split(",")):  # --networks "" with --run: the accuracy only
        measure(name, NETWORKS[name], [int(b) for b in args.batches.split(",")], args.rounds, args.seconds, threads)
    if args.run is not None:
        int8_accuracy(args.run)


if __name__ == "__main__":
    main()
