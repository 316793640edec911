"""The table and figure of studies/cifar10-lt-published.yaml (ERM, LA, LDAM-DRW, BSCE at the papers'
200-epoch schedule), from the study's run folders: finished rows and rows still training alike.

    ltcli study studies/cifar10-lt-published.yaml --logs-dir RUNS      # resumable; hours a row on a CPU
    python benchmarks/published_table.py --logs-dir RUNS               # the table and figure so far

A finished row's record (config.json, train.csv, valid.csv and its two test results: text, no checkpoint)
is copied to benchmarks/cifar10lt_published_runs/ROW/, and a row missing from RUNS is read from there: a
row finished in one session stays in the table when a later session, on a fresh machine, runs the rest.

Per row: the test accuracy of the epoch picked by balanced accuracy on valid/ and of the last epoch
(`ltcli test` on checkpoint_best.pt and checkpoint_last.pt, once each), many/medium/few, the published
figure and its source, the difference, the epochs and minutes of training (train.csv's time_s). The
figure plots valid/ balanced accuracy (an estimate of test accuracy: test/ is balanced) against epoch
and against training minutes, marks the valid-picked epoch, and the first epoch at which a row reaches
95% of its final value. Test accuracy is measured only at the two kept checkpoints: ltcli never
evaluates test/ during training, so that no choice can lean on it. The exception, drawn dashed and tabled
apart, is studies/cifar10-lt-papers-protocol.yaml, which evaluates test/ every epoch as the papers do.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402

STUDY = "cifar10-lt-published"
# The papers' own protocol (studies/cifar10-lt-papers-protocol.yaml): every training image, test/ evaluated
# each epoch and the best epoch picked on it; compared like with like with the published figures only.
PROTOCOL_STUDY = "cifar10-lt-papers-protocol"


class Variant(NamedTuple):
    """A papers'-protocol study's rows: their record folder's suffix, name's label and figure line style."""

    suffix: str
    label: str
    style: str  # dotted for float32 beside the bf16 row's dashes: the same method draws in one colour


# The protocol study and its float32 variant (`--amp off`, the papers' precision), to separate bf16 from the data.
PROTOCOL_STUDIES = {PROTOCOL_STUDY: Variant("", "", "--"), f"{PROTOCOL_STUDY}-fp32": Variant("-fp32", ", float32", ":")}
PROTOCOL_RECORD = ("config.json", "train.csv", "valid.csv")
NOTES = "<!-- notes: kept when the table is written again -->"
# The study's rows and their recipes; the published figure and its paper are read from the recipe's header
# (`# published: 70.36 ...`, `# paper: ...`), so they are written once.
RECIPES = {"ERM": "erm", "LA": "la", "LDAM-DRW": "ldam-drw", "BSCE": "bsce"}
RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes" / "cifar10-lt"
GROUPS = ("many_shot_acc", "medium_shot_acc", "few_shot_acc")
KEPT = Path(__file__).with_name("cifar10lt_published_runs")
RECORD = ("config.json", "train.csv", "valid.csv", "test-best/metrics.json", "test-last/metrics.json")


def published(method: str) -> tuple[float | None, str]:
    """The recipe's published top-1 (None when it says it is unverified) and its paper's authors and venue."""
    header = [line for line in (RECIPE_DIR / f"{RECIPES[method]}.yaml").read_text().splitlines()
              if line.startswith("#")]
    line = next((line for line in header if line.startswith("# published:")), "# published: -")
    figure = line.split()[2]
    where = line.partition("(")[2].split(",")[0].split(";")[0].rstrip(")")  # "Table 2", "the authors' README"
    paper = next((line.removeprefix("# paper:").strip() for line in header if line.startswith("# paper:")), "")
    authors, _, rest = paper.partition(", ")
    venue = rest.rsplit(", ", 1)[-1] if rest else ""
    source = f"{authors}, {venue}".strip(", ") + (f" ({where})" if where else "")
    return (float(figure) if figure.replace(".", "", 1).isdigit() else None), source


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run_of(point: Path) -> Path | None:
    """The point's run folder (the newest with a last checkpoint, as the study resumes)."""
    runs = sorted(p.parent for p in point.rglob("checkpoint_last.pt"))
    return runs[-1] if runs else None


def tested(run: Path, checkpoint: str) -> dict | None:
    """metrics.json of `ltcli test` on one checkpoint, run once and kept in RUN/test-<checkpoint>/."""
    out = run / f"test-{checkpoint}"
    if not (out / "metrics.json").is_file():
        subprocess.run([sys.executable, "-m", "ltcli", "test", "--run", str(run / f"checkpoint_{checkpoint}.pt"),
                        "--out", str(out), "--force"], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def first_reaching(values: list[float], share: float = 0.95) -> int | None:
    """The first epoch (1-based) whose value is at least `share` of the last one."""
    target = share * values[-1]
    return next((i + 1 for i, v in enumerate(values) if v >= target), None)


def write_whole(target: Path, data: bytes) -> None:
    """Write `data` to a temporary name beside `target`, then rename: a kill never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def keep(run: Path, into: Path, record: tuple[str, ...] = RECORD) -> None:
    """Copy a finished row's `record` files into `into`, each written whole."""
    for name in record:
        write_whole(into / name, (run / name).read_bytes())


def open_row(point: Path, record: Path, parts: tuple[str, ...]) -> tuple[Path, dict, list, list] | None:
    """(run, config, train rows, valid rows) of the run under the study's `point` folder, else of its kept
    `record`; None while there is neither or no epoch has finished."""
    run = run_of(point)
    if run is None and all((record / part).is_file() for part in parts):
        run = record
    if run is None:
        return None
    valid = read_rows(run / "valid.csv")
    return (run, json.loads((run / "config.json").read_text()), read_rows(run / "train.csv"), valid) if valid else None


def picked(values: list[float]) -> int:
    """The 1-based epoch of the highest value (the first of equals)."""
    return max(range(len(values)), key=values.__getitem__) + 1


def training_minutes(train: list[dict]) -> dict:
    """A row's training minutes from train.csv's time_s: in all, and after each epoch (the figure's x)."""
    minutes = [float(r["time_s"]) / 60 for r in train]
    return {"minutes": sum(minutes), "cumulative": [sum(minutes[: i + 1]) for i in range(len(minutes))]}


def row_of(method: str, point: Path, kept: Path = KEPT) -> dict | None:
    """The row of `method` from its run under the study's `point` folder, else from its kept record."""
    opened = open_row(point, kept / method, RECORD)
    if opened is None:
        return None
    run, config, train, valid = opened
    balanced = [float(r["balanced_acc"]) for r in valid]
    row = {"method": method, "run": run, "epochs": len(valid), "planned": config["epochs"], **training_minutes(train),
           "balanced": balanced, "picked": picked(balanced), "reach95": first_reaching(balanced)}
    if len(valid) == config["epochs"]:
        row["best"], row["last"] = tested(run, "best"), tested(run, "last")
        if run != kept / method:
            keep(run, kept / method)
    return row


def protocol_row(method: str, point: Path, kept: Path = KEPT, variant: Variant = PROTOCOL_STUDIES[PROTOCOL_STUDY]
                 ) -> dict | None:
    """The row of `method` under the papers' protocol: its valid.csv is test/ evaluated every epoch, so the
    test-picked accuracy is read from it (no `ltcli test` run); kept as text like the published rows.
    `variant` is one of PROTOCOL_STUDIES' values."""
    record = kept / f"{method}-papers-protocol{variant.suffix}"
    opened = open_row(point, record, PROTOCOL_RECORD)
    if opened is None:
        return None
    run, config, train, valid = opened
    if config.get("valid_split") != "test":
        raise SystemExit(f"{run}: validated on {config.get('valid_split')}/, not test/: not the papers' protocol")
    accuracy = [float(r["acc"]) for r in valid]
    row = {"method": method, "name": f"{method} (papers' protocol{variant.label})", "style": variant.style,
           "epochs": len(valid),
           "planned": config["epochs"], **training_minutes(train),
           "train_images": sum(config["class_counts"]), "accuracy": accuracy, "picked": picked(accuracy)}
    if len(valid) == config["epochs"] and run != record:
        keep(run, record, PROTOCOL_RECORD)
    return row


def protocol_table(rows: list[dict]) -> list[str]:
    lines = ["| method | epochs | train images | test acc, test-picked (epoch) | test acc, last epoch | published | "
             "difference | minutes |", "|---" * 8 + "|"]
    for row in rows:
        figure, _ = published(row["method"])
        best = 100 * max(row["accuracy"])
        done = row["epochs"] == row["planned"]
        difference = f"{best - figure:+.2f}" if figure is not None and done else "—"
        epochs = row["epochs"] if done else f"{row['epochs']}/{row['planned']} (training)"
        lines.append(f"| {row['name']} | {epochs} | {row['train_images']} | {best:.2f} ({row['picked']}) | "
                     f"{100 * row['accuracy'][-1]:.2f} | {figure or '—'} | {difference} | {row['minutes']:.0f} |")
    return lines


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def table(rows: list[dict]) -> list[str]:
    lines = ["| method | epochs | test acc, valid-picked (epoch) | test acc, last epoch | many | medium | few | "
             "published | source | difference | minutes |", "|---" * 11 + "|"]
    for row in rows:
        figure, source = published(row["method"])
        best, last = row.get("best"), row.get("last")
        if best is None:
            lines.append(f"| {row['method']} | {row['epochs']}/{row['planned']} (training) | — (valid bal "
                         f"{percent(max(row['balanced']))} at {row['picked']}) | — | — | — | — | "
                         f"{figure or '—'} | {source} | — | {row['minutes']:.0f} |")
            continue
        difference = f"{100 * best['acc'] - figure:+.2f}" if figure is not None else "—"
        groups = " | ".join(percent(best.get(g)) for g in GROUPS)
        lines.append(f"| {row['method']} | {row['epochs']} | {percent(best['acc'])} ({row['picked']}) | "
                     f"{percent(last['acc'])} | {groups} | {figure or '—'} | {source} | {difference} | "
                     f"{row['minutes']:.0f} |")
    return lines


def figure(rows: list[dict], path: Path, protocol: list[dict] = ()) -> None:
    """The published rows' valid/ curves; a papers'-protocol row's test/ curve is dashed (its float32 variant
    dotted), in its method's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colours: dict[str, str] = {}
    for row in rows:
        epochs = range(1, len(row["balanced"]) + 1)
        label = f"{row['method']} (95% of final at epoch {row['reach95']})"
        line, = by_epoch.plot(epochs, row["balanced"], label=label, linewidth=1)
        by_time.plot(row["cumulative"][: len(row["balanced"])], row["balanced"][: len(row["cumulative"])],
                     color=line.get_color(), linewidth=1)
        picked = row["picked"]
        by_epoch.plot([picked], [row["balanced"][picked - 1]], "o", color=line.get_color())
        by_time.plot([row["cumulative"][picked - 1]], [row["balanced"][picked - 1]], "o", color=line.get_color())
        if row.get("best") is not None:
            by_epoch.plot([picked], [row["best"]["acc"]], "*", markersize=10, color=line.get_color())
            by_epoch.plot([len(row["balanced"])], [row["last"]["acc"]], "s", color=line.get_color())
        colours[row["method"]] = line.get_color()
    for row in protocol:
        colour, accuracy = colours.get(row["method"]), row["accuracy"]
        line, = by_epoch.plot(range(1, len(accuracy) + 1), accuracy, row["style"], color=colour, linewidth=0.8,
                              label=f"{row['name']}: test/ acc each epoch, x its maximum")
        by_time.plot(row["cumulative"][: len(accuracy)], accuracy[: len(row["cumulative"])], row["style"],
                     color=line.get_color(), linewidth=0.8)
        by_epoch.plot([row["picked"]], [accuracy[row["picked"] - 1]], "x", markersize=8, color=line.get_color())
    by_epoch.set(xlabel="epoch", ylabel="valid/ balanced accuracy (dashed, dotted: test/ accuracy)",
                 title="o valid-picked epoch, * its test acc, s last epoch's test acc")
    by_time.set(xlabel="training minutes (this CPU)")
    by_epoch.legend(fontsize=8)
    for axis in (by_epoch, by_time):
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs-dir", type=Path, default=Path("logs"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("cifar10lt_published_results.md"))
    parser.add_argument("--figure", type=Path, default=Path(__file__).with_name("cifar10lt_published.svg"))
    parser.add_argument("--kept", type=Path, default=KEPT, help="where finished rows' records are kept")
    args = parser.parse_args()
    runs = args.logs_dir / "studies" / STUDY / "runs"
    rows = [row for method in RECIPES if (row := row_of(method, runs / f"method-{method}", args.kept)) is not None]
    if not rows:
        print(f"no runs yet under {runs}: start `ltcli study studies/{STUDY}.yaml --logs-dir {args.logs_dir}`")
        return
    lines = table(rows)
    protocol = [row for study, variant in PROTOCOL_STUDIES.items() for method in RECIPES
                if (row := protocol_row(method, args.logs_dir / "studies" / study / "runs" / f"method-{method}",
                                        args.kept, variant)) is not None]
    if protocol:
        lines += ["", f"The papers' protocol (`ltcli study studies/{PROTOCOL_STUDY}.yaml`; `-fp32.yaml` trains in "
                  "float32): every training image, "
                  "the epoch picked on test/ as the papers do; for comparison with the published figures only.", "",
                  *protocol_table(protocol)]
    figure(rows, args.figure, protocol)
    header = (f"Written {datetime.datetime.now().isoformat(timespec='minutes')} by `python "
              f"benchmarks/published_table.py --logs-dir {args.logs_dir}`; load now {bench_data.load()}.")
    text = "\n".join([header, "", *lines])
    print(text)
    write_keeping_notes(args.out, text)


def write_keeping_notes(path: Path, text: str) -> None:
    """Write the generated `text` to `path`, keeping what follows its NOTES line (the hand-written findings)."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES):] if NOTES in old else NOTES + "\n"
    write_whole(path, f"{text}\n\n{notes}".encode())


if __name__ == "__main__":
    main()
