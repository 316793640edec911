"""Two-stage and post-hoc methods against plain ERM, at one fixed budget, on CIFAR-10-LT (IF 100).

    python benchmarks/two_stage.py                          # ../shared/data/cifar10-lt-if100, CPU budget
    python benchmarks/two_stage.py --epochs 200 --stage2-epochs 10 --pretrain-epochs 200   # the papers' budget
    python benchmarks/two_stage.py --quick                  # 40 images per class, 16x16: a smoke run

Rows (each chain runs through the `ltcli` command line, as a user would):
  ERM; ERM -> cRT; ERM -> tau-norm (tau swept on valid/); rotation SSP -> ERM -> cRT;
  mixup ERM -> LAS + shift learning (MiSLAS stage two); ERM -> GML tune, ensembled with ERM by
  temperatures. The best epoch and every tau are chosen on a validation split carved from the
  training images (10% of each class, at least one), never on test/.

Prints a markdown table (test accuracy, many/medium/few-shot accuracy, lowest recall, minutes of
the chain) and writes it to --out. Skips cleanly when the dataset is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-lt-if100"
COLUMNS = ("acc", "balanced_acc", "many_shot_acc", "medium_shot_acc", "few_shot_acc", "lowest_recall")


def carve(root: Path, into: Path, valid_share: float, per_class: int | None, every: int = 1) -> Path:
    """Symlinks: train/ minus every class's last `valid_share` (at least one image) as valid/, test/ as is.
    `every` > 1 keeps every so-many-th training image of each class: a smaller set with the same profile."""
    for class_dir in sorted((root / "train").iterdir()):
        images = sorted(class_dir.iterdir())[:per_class][::every]
        held = max(1, round(valid_share * len(images)))
        for split, chosen in (("train", images[:-held]), ("valid", images[-held:])):
            (into / split / class_dir.name).mkdir(parents=True)
            for image in chosen:
                os.symlink(image.resolve(), into / split / class_dir.name / image.name)
    for class_dir in sorted((root / "test").iterdir()):
        (into / "test" / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[: per_class]:
            os.symlink(image.resolve(), into / "test" / class_dir.name / image.name)
    return into


class Chain:
    """Runs `ltcli` commands in one working folder and remembers the run each training made."""

    def __init__(self, work: Path, base: list[str], stage_one: list[str]) -> None:
        self.work, self.base, self.stage_one = work, base, stage_one

    def ltcli(self, *args: str) -> str:
        env = {**os.environ, "COLUMNS": "200"}
        result = subprocess.run([sys.executable, "-m", "ltcli", *args], cwd=self.work, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ltcli {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def train(self, objective: str, *extra: str, stage_one: bool = True) -> Path:
        """A run with the shared options, stage one's schedule unless `stage_one` is False."""
        before = set(self.work.glob("logs/*/*/*/*/config.json"))
        schedule = self.stage_one if stage_one else []
        self.ltcli("train", "--data", "data", "--objective", objective, *self.base, *schedule, *extra)
        (new,) = set(self.work.glob("logs/*/*/*/*/config.json")) - before
        return new.parent

    def pretrain(self, method: str, *extra: str) -> Path:
        before = set(self.work.glob("logs/*/*/*/*/config.json"))
        self.ltcli("pretrain", "--data", "data", "--method", method, *self.base, *extra)
        (new,) = set(self.work.glob("logs/*/*/*/*/config.json")) - before
        return new.parent

    def test(self, *runs: Path, extra: tuple[str, ...] = (), out: str | None = None) -> dict:
        args = [a for run in runs for a in ("--run", str(run))]
        target = self.work / out if out else runs[0]
        if out:
            args += ["--out", out, "--force"]
        self.ltcli("test", *args, *extra)
        found = sorted(target.glob("metrics*.json"), key=lambda p: p.stat().st_mtime)
        return json.loads(found[-1].read_text())


def row(name: str, metrics: dict, started: float) -> dict:
    return {"method": name, **{k: metrics.get(k) for k in COLUMNS}, "minutes": (time.time() - started) / 60}


ROWS = ("erm", "crt", "taunorm", "ssp", "mislas", "gml")


def run_all(chain: Chain, args: argparse.Namespace) -> list[dict]:
    """The rows asked for (`--rows`); the ERM run is trained once for every row that builds on it."""
    wanted = set(args.rows.split(","))
    stage_two = ("--epochs", str(args.stage2_epochs))
    rows = []
    erm = None
    if wanted & {"erm", "crt", "taunorm", "gml"}:
        t = time.time()
        erm = chain.train("ERM")
        erm_minutes = (time.time() - t) / 60
        if "erm" in wanted:
            rows.append(row("ERM", chain.test(erm), t))
    if "crt" in wanted:
        t = time.time()
        crt = chain.train("ERM", "--recipe", "crt", "--init-from", str(erm), *stage_two, stage_one=False)
        rows.append(row("ERM → cRT", chain.test(crt), t) | {"minutes": erm_minutes + (time.time() - t) / 60})
    if "taunorm" in wanted:
        t = time.time()
        tau = chain.test(erm, extra=("--tau-norm", "0:2:0.25", "--sweep"), out="taunorm")
        rows.append(row(f"ERM → τ-norm (τ={tau['posthoc']['tau_norm']:g}, chosen on valid)", tau, t)
                    | {"minutes": erm_minutes + (time.time() - t) / 60})
    if "ssp" in wanted:
        t = time.time()
        ssp = chain.pretrain("rotation", "--epochs", str(args.pretrain_epochs))
        ssp_erm = chain.train("ERM", "--init-from", str(ssp))
        ssp_crt = chain.train("ERM", "--recipe", "crt", "--init-from", str(ssp_erm), *stage_two, stage_one=False)
        rows.append(row("rotation SSP → ERM → cRT", chain.test(ssp_crt), t))
    if "mislas" in wanted:
        t = time.time()
        mixup = chain.train("ERM", "--mixup", "1.0")
        mislas = chain.train("LAS", "--recipe", "mislas", "--init-from", str(mixup), *stage_two, stage_one=False)
        rows.append(row("mixup → LAS + shift learning", chain.test(mislas), t))
    if "gml" in wanted:
        t = time.time()
        gml = chain.train("GML", "--init-from", str(erm), *stage_two, "--sched", "cosine", "--warmup", "0",
                          stage_one=False)
        ensemble = chain.test(gml, erm, extra=("--temperatures", args.temperatures), out="gml-ensemble")
        rows.append(row(f"ERM → GML tune + ensemble (t={args.temperatures})", ensemble, t)
                    | {"minutes": erm_minutes + (time.time() - t) / 60})
    return rows


def markdown_table(rows: list[dict], budget: str, columns: tuple[str, ...], headers: tuple[str, ...],
                   last: str) -> str:
    """The budget line, then one row per method: `columns` as percentages (n/a when absent) and the
    plain figure `last` (minutes, seconds per epoch) to one decimal; `headers` name them all."""
    header = "| method | " + " | ".join(headers) + " |\n" + "|---" * (len(headers) + 1) + "|\n"
    cell = lambda v: "n/a" if v is None else f"{100 * v:.1f}"  # noqa: E731
    lines = [f"| {r['method']} | " + " | ".join(cell(r[k]) for k in columns) + f" | {r[last]:.1f} |" for r in rows]
    return f"{budget}\n\n{header}" + "\n".join(lines) + "\n"


def publish(text: str, out: Path) -> None:
    """Print the table and keep it in `out`."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def table(rows: list[dict], budget: str) -> str:
    headers = ("acc", "balanced", "many", "medium", "few", "lowest recall", "minutes")
    return markdown_table(rows, budget, COLUMNS, headers, "minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default="resnet32")
    parser.add_argument("--epochs", type=int, default=3, help="stage one (ERM, mixup ERM, ERM after SSP)")
    parser.add_argument("--stage2-epochs", type=int, default=1)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {', '.join(ROWS)}")
    parser.add_argument("--temperatures", default="1,2", help="GML-tuned run, ERM run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("logs/benchmarks/two_stage.md"))
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"skipped: no dataset at {args.data}")
        return
    side = "16" if args.quick else "32"
    stages = f"{max(1, args.epochs - 1)},1" if args.epochs > 1 else "1"
    base = ["--model", args.model, "--batchsize", "128", "--lr", "0.1", "--weight-decay", "2e-4", "--height", side,
            "--width", side, "--device", args.device, "--workers", str(args.workers), "--seed", "0"]
    stage_one = ["--epochs", str(args.epochs), "--lrstep", stages, "--warmup", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        carve(args.data, work / "data", 0.1, 40 if args.quick else None)
        chain = Chain(work, base, stage_one)
        rows = run_all(chain, args)
    budget = (f"Budget: {args.model} {side}x{side}, stage one {args.epochs} epoch(s) (lr 0.1, step), stage two "
              f"{args.stage2_epochs} epoch(s), rotation pre-training {args.pretrain_epochs} epoch(s), "
              f"device {args.device}; valid/ = 10% of each training class.")
    publish(table(rows, budget), args.out)


if __name__ == "__main__":
    main()
