"""Data commands: demo-data, download, split, stats."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ltcli.cli.declared import declare_options, field_option, settings_from_cli
from ltcli.cli.root import app, console, err_console, file_progress, friendly
from ltcli.config import DEFAULT
from ltcli.data.download import DOWNLOADS
from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError, check_name
from ltcli.layout import RAW_DIR
from ltcli.settings import declared_field, spelled

if TYPE_CHECKING:
    from ltcli.data.folder import FolderScan
    from ltcli.data.split import SplitPlan
    from ltcli.data.stats import DatasetStats

LISTED_PATHS = 10  # paths printed per problem list; --json has them all


@app.command("demo-data")
@friendly
def demo_data(
    root: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path(RAW_DIR),
    imbalance_factor: Annotated[float, field_option(declared_field(SplitOptions, "imbalance_factor"))] = 10.0,
    force: Annotated[bool, typer.Option(help="Rewrite the demo folder if it exists.")] = False,
) -> None:
    """Write the bundled long-tailed demo (scikit-learn's real 8x8 digits) to data_split/digits-lt/."""
    from ltcli.data.demo import DEMO_NAME, DemoExistsError, write_demo_dataset

    destination = root / DEMO_NAME
    try:
        counts = write_demo_dataset(destination, imbalance_factor, force=force)
    except DemoExistsError:
        console.print(f"{destination} already exists: left as is (pass --force to rewrite it)")
        return
    console.print(
        f"wrote {sum(counts.values())} images to {destination}: "
        + ", ".join(f"{k}:{v}" for k, v in counts.items())
        + f" (imbalance {max(counts.values()) / min(counts.values()):.1f})"
    )


@app.command()
@friendly
def download(
    name: Annotated[str, typer.Argument(help=f"{spelled(tuple(DOWNLOADS))}.")],
    root: Annotated[Path, typer.Option(help="Folder of raw datasets: writes ROOT/NAME.")] = Path(RAW_DIR),
    cache: Annotated[
        Path | None, typer.Option(help="Where torchvision keeps the archive (default ROOT/.downloads).")
    ] = None,
) -> None:
    """Download a standard dataset (torchvision's downloader and checksums) into data_split/NAME/{train,test}/,
    keeping its official split; never overwrites. Then `ltcli split NAME-lt --src data_split/NAME
    --imbalance-factor 100` gives the literature's long-tailed version (e.g. CIFAR-10-LT)."""
    from ltcli.data.download import check_destination, get_download, open_splits, write_dataset

    dataset = get_download(name)
    destination = root / dataset.name
    cache = cache if cache is not None else root / ".downloads"
    check_destination(destination)
    console.print(f"{dataset.summary}: fetching into {cache} (torchvision)", highlight=False, soft_wrap=True)
    splits = open_splits(dataset, cache)
    with file_progress("writing") as progress:
        task = progress.add_task("write", total=sum(len(part) for part in splits.values()))
        counts = write_dataset(dataset, splits, destination, on_file=lambda: progress.advance(task))
    sizes = ", ".join(f"{split} {sum(per_class.values())}" for split, per_class in counts.items())
    console.print(f"wrote {destination}: {sizes} images in {len(counts['train'])} classes (the archive stays in "
                  f"{cache}); next: ltcli split {dataset.name}-lt --src {destination} --imbalance-factor 100",
                  highlight=False, soft_wrap=True)


@app.command()
@friendly
def split(
    name: Annotated[str, typer.Argument(help="Dataset name: reads data_split/NAME, writes a_datasets/NAME.")],
    src: Annotated[Path | None, typer.Option(help="Read this folder instead of data_split/NAME.")] = None,
    data_split_dir: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path(RAW_DIR),
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path(DEFAULT.datasets_dir),
    **values: Any,
) -> None:
    """Split data_split/NAME/<class>/ into a_datasets/NAME/{train,valid,test}/<class>/, stratified and seeded.

    A source that already has train/ and test/ (maybe valid/) keeps its splits. --imbalance-factor
    (or --counts) then shapes only the train part; --similar mixes only training images. The source
    is never moved, renamed or deleted.
    """
    from ltcli.data.make import make_split

    check_name(name, "the dataset NAME")
    source = src if src is not None else data_split_dir / name
    destination = datasets_dir / name
    settings = settings_from_cli(SplitOptions, values)  # every option of SplitOptions (its fields' declarations)
    options = SplitOptions(**{key: value for key, value in settings.items() if value is not None})
    manifest, plan, scans = make_split(source, destination, options, scan=scan_with_progress,
                                       write=write_with_progress)
    print_split_summary(name, source, destination, manifest)
    print_skipped(list(scans.values()), plan.ignored_folders)


declare_options(split, SplitOptions)


def print_skipped(scans: list[FolderScan], ignored_folders: list[Path]) -> None:
    """What the split left out, so nothing is dropped silently (split.json lists it too)."""
    non_images = sum(len(scan.non_images) for scan in scans)
    if non_images:
        console.print(f"skipped {non_images} non-image file(s) (listed in split.json)")
    listed = (("skipped {} unreadable image(s):", [str(path) for scan in scans for path in scan.corrupt]),
              ("skipped {} broken link(s), their target is missing:",
               [f"{path} -> {os.readlink(path)}" for scan in scans for path in scan.broken]),
              ("ignored {} folder(s) beside the split folders (only train/, valid/ and test/ are read):",
               [f"{path}/" for path in ignored_folders]))
    for heading, lines in listed:
        if lines:
            console.print(f"[yellow]{heading.format(len(lines))}[/]")
            for line in lines:
                console.print(f"  {line}", highlight=False, markup=False)


def scan_with_progress(roots: dict[str, Path]) -> dict[str, FolderScan]:
    """Scan each `<class>/<images>` root (verifying every image) under one progress bar."""
    from ltcli.data.folder import count_files, scan_class_folders

    with file_progress("scanning") as progress:
        task = progress.add_task("scan", total=sum(count_files(root) for root in roots.values()))
        return {key: scan_class_folders(root, on_file=lambda: progress.advance(task)) for key, root in roots.items()}


def write_with_progress(plan: SplitPlan, scans: list[FolderScan], destination: Path, link: str, force: bool) -> dict:
    from ltcli.data.split import write_split

    with file_progress(link) as progress:
        total = sum(len(files) for classes in plan.assignment.values() for files in classes.values())
        task = progress.add_task(link, total=total)
        return write_split(plan, scans, destination, link, force, on_file=lambda: progress.advance(task))


def counts_table(title: str, counts: dict[str, dict[str, int]], class_names: list[str],
                 groups: dict[str, str] | None = None) -> Table:
    """Images per class (rows) and split (columns), a total row, and each class's group when given."""
    table = Table(title=title)
    table.add_column("class")
    for split in counts:
        table.add_column(split, justify="right")
    if groups is not None:
        table.add_column("group")
    for class_name in class_names:
        table.add_row(class_name, *(str(c[class_name]) for c in counts.values()),
                      *([] if groups is None else [groups[class_name]]))
    table.add_row("[bold]total", *(f"[bold]{sum(c.values())}" for c in counts.values()),
                  *([] if groups is None else [""]))
    return table


def print_split_summary(name: str, source: Path, destination: Path, manifest: dict) -> None:
    """The per-class table of the written split, and how the long tail was made."""
    counts = manifest["counts"]
    splits = list(counts)
    console.print(counts_table(f"{name}: {source} -> {destination} (seed {manifest['seed']}, {manifest['link']})",
                               counts, list(counts["train"])))
    long_tail = manifest["long_tail"]
    if long_tail is not None:
        kept, available = sum(long_tail["targets"].values()), sum(long_tail["available"].values())
        others = ", ".join(s for s in splits if s != "train") or "no other split"
        console.print(
            f"train is long-tailed ({long_tail['profile']}, imbalance factor {long_tail['imbalance_factor']:g}, "
            f"n_max {long_tail['n_max']}): kept {kept} of {available} training images; {others} unchanged",
            highlight=False,
        )
    if manifest.get("exact_counts") is not None:
        console.print(f"train has the exact counts asked ({manifest['exact_counts']['requested']}); "
                      "valid and test unchanged", highlight=False)
    if manifest.get("similar") is not None:
        for spec in manifest["similar"]["specs"]:
            mixed = len(manifest["similar"]["mixes"][spec["class"]])
            console.print(f"replaced {mixed} training image(s) of {spec['class']!r} by {spec['lambda']:g}*x_"
                          f"{spec['class']} + {1 - spec['lambda']:g}*x_{spec['with']} (PNG; listed in split.json)",
                          highlight=False)


@app.command()
@friendly
def stats(
    dataset: Annotated[str, typer.Argument(
        help="a_datasets/NAME, data_split/NAME, any folder PATH, or a folder of NAME_{train,val,test}.txt lists.")],
    data_root: Annotated[Path | None, typer.Option(
        help="Lists only: the folder their image paths are relative to (default: the lists' folder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    plot: Annotated[bool, typer.Option(help="Draw the class histogram.")] = True,
    out: Annotated[
        Path | None, typer.Option(help="Histogram file, .svg or .png (default logs/plots/stats-NAME.svg).")
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="Log scale for the histogram's counts.")] = False,
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path(DEFAULT.datasets_dir),
    data_split_dir: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path(RAW_DIR),
    logs_dir: Annotated[Path, typer.Option(help="The histogram goes to LOGS_DIR/plots/ by default.")
                        ] = Path(DEFAULT.logs_dir),
) -> None:
    """Per-class counts per split, imbalance, head/medium/tail groups, image sizes and modes, and
    every file training would skip (non-images, undecodable, hidden), duplicates across splits and
    classes missing from a split. Only reads the dataset."""
    import json

    from ltcli.data.stats import dataset_stats, list_dataset, resolve_dataset
    from ltcli.run_plots import plot_class_histogram

    if not dataset:
        raise LtcliError("give a dataset NAME or a folder PATH, not an empty one")
    root = resolve_dataset(dataset, datasets_dir, data_split_dir)
    name = root.resolve().name
    if out is not None and out.suffix.lower() not in (".svg", ".png"):
        raise LtcliError(f"--out must end in .svg or .png, got {out.name}")
    listing = list_dataset(root, data_root)
    with file_progress("reading", on=err_console if as_json else console) as progress:
        task = progress.add_task("read", total=len(listing.files))
        result = dataset_stats(root, on_file=lambda: progress.advance(task), listing=listing)
    histogram = None
    if plot:
        histogram = out or logs_dir / "plots" / f"stats-{name}.svg"
        order = sorted(result.class_names, key=lambda c: (-result.counts[result.reference_split][c], c))
        plot_class_histogram(result.counts, order, histogram, log=log,
                             title=f"{name}: images per class" + (" (log scale)" if log else ""))
    if as_json:
        document = {**result.to_dict(), "histogram": str(histogram) if histogram else None}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    print_stats(name, result)
    if histogram is not None:
        console.print(f"class histogram: {histogram}", highlight=False)


def print_stats(name: str, result: DatasetStats) -> None:
    """The human report: one table of counts, then one line (plus listed paths) per finding."""
    from ltcli.metrics import FEW_SHOT_MAX, MANY_SHOT_MIN

    reference = result.reference_split
    groups = {c: group for group, members in result.groups().items() for c in members}
    console.print(counts_table(f"{name}: {result.root} ({result.layout} layout: {', '.join(result.splits)})",
                               {s: result.counts[s] for s in result.splits}, result.class_names, groups))
    counts = result.reference_counts
    ratio = result.imbalance_ratio()
    ratio_text = (f"{ratio:.1f} ({max(counts)} / {min(counts)})" if ratio is not None
                  else "undefined (a class has no image)")
    _say(f"imbalance ratio ({reference}): {ratio_text}")
    _say(f"groups by {reference} count (head > {MANY_SHOT_MIN}, tail < {FEW_SHOT_MAX}): "
         + ", ".join(f"{group} {len(members)}" for group, members in result.groups().items()))
    missing = {split: names for split, names in result.missing_classes().items() if names}
    _say("classes missing from a split: "
         + ("; ".join(f"{split}: {', '.join(names)}" for split, names in missing.items()) if missing else "none"))
    _say("image sizes: " + _top(result.sizes) + f" ({len(result.sizes)} distinct)")
    _say("modes: " + _top(result.modes) + "; formats: " + _top(result.formats)
         + f"; EXIF-rotated: {result.exif_rotated}")
    _say(f"images in nested folders (counted in their class): {result.nested_images}")
    _say_paths("non-image files (skipped)", result.non_images)
    _say_paths("image files that do not decode (skipped)", result.undecodable)
    _say_paths("files that cannot be read: broken links, no permission (skipped)", result.unreadable)
    _say_paths("hidden files (ignored)", result.hidden)
    _say_paths("files outside class folders (ignored)", result.loose)
    _say_paths("duplicate files across splits (same bytes)", [" = ".join(g) for g in result.duplicates_across_splits])
    _say_paths("duplicate files within a split", [" = ".join(g) for g in result.duplicates_within_splits])


def _say(text: str) -> None:
    """One finding per line, unwrapped and uncoloured, so it greps and diffs well."""
    console.print(text, highlight=False, soft_wrap=True)


def _top(counter: dict[str, int], limit: int = 5) -> str:
    items = list(counter.items())
    text = ", ".join(f"{key} {value}" for key, value in items[:limit])
    return (text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")) or "none"


def _say_paths(label: str, paths: list[str]) -> None:
    _say(f"{label}: {len(paths)}")
    for path in paths[:LISTED_PATHS]:
        _say(f"  {path}")
    if len(paths) > LISTED_PATHS:
        console.print(f"  ... and {len(paths) - LISTED_PATHS} more (--json lists all)", highlight=False)
