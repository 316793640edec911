"""Data commands: demo-data, split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltcli.cli.app import app, console, file_progress, friendly


@app.command("demo-data")
@friendly
def demo_data(
    root: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path("data_split"),
    imbalance_factor: Annotated[float, typer.Option(help="Head count / tail count (>= 10 for a real tail).")] = 10.0,
    force: Annotated[bool, typer.Option(help="Rewrite the demo folder if it exists.")] = False,
) -> None:
    """Write the bundled long-tailed demo (scikit-learn's real 8x8 digits) to data_split/digits-lt/."""
    from ltcli.data.demo import DEMO_NAME, write_demo_dataset

    destination = root / DEMO_NAME
    try:
        counts = write_demo_dataset(destination, imbalance_factor, force=force)
    except FileExistsError:
        console.print(f"{destination} already exists: left as is (pass --force to rewrite it)")
        return
    console.print(
        f"wrote {sum(counts.values())} images to {destination}: "
        + ", ".join(f"{k}:{v}" for k, v in counts.items())
        + f" (imbalance {max(counts.values()) / min(counts.values()):.1f})"
    )


@app.command()
@friendly
def split(
    name: Annotated[str, typer.Argument(help="Dataset name: reads data_split/NAME, writes a_datasets/NAME.")],
    src: Annotated[Path | None, typer.Option(help="Read this folder instead of data_split/NAME.")] = None,
    ratios: Annotated[str, typer.Option(help="train,valid,test fractions.")] = "0.7,0.15,0.15",
    seed: Annotated[int, typer.Option(help="Seed of the per-class shuffles.")] = 0,
    link: Annotated[str, typer.Option(help="copy, hardlink or symlink the files.")] = "copy",
    force: Annotated[bool, typer.Option(help="Replace an existing a_datasets/NAME.")] = False,
    data_split_dir: Annotated[Path, typer.Option(help="Folder of raw datasets.")] = Path("data_split"),
    datasets_dir: Annotated[Path, typer.Option(help="Folder of split datasets.")] = Path("a_datasets"),
) -> None:
    """Split data_split/NAME/<class>/ into a_datasets/NAME/{train,valid,test}/<class>/, stratified and seeded.

    The source is never moved, renamed or deleted.
    """
    from ltcli.data.folder import count_files, list_class_dirs, scan_class_folders
    from ltcli.data.split import SPLITS, check_destination, parse_ratios, plan_split, write_split

    source = src if src is not None else data_split_dir / name
    destination = datasets_dir / name
    parsed = parse_ratios(ratios)
    list_class_dirs(source)  # fail fast with a clear message
    check_destination(source, destination, force)
    with file_progress("scanning") as progress:
        task = progress.add_task("scan", total=count_files(source))
        scan = scan_class_folders(source, on_file=lambda: progress.advance(task))
    plan = plan_split(scan, parsed, seed)
    with file_progress(link) as progress:
        task = progress.add_task(link, total=sum(len(v) for v in scan.images.values()))
        manifest = write_split(plan, scan, destination, link, force, on_file=lambda: progress.advance(task))
    table = Table(title=f"{name}: {source} -> {destination} (seed {seed}, {link})")
    table.add_column("class")
    for s in SPLITS:
        table.add_column(s, justify="right")
    counts = manifest["counts"]
    for class_name in scan.class_names:
        table.add_row(class_name, *(str(counts[s][class_name]) for s in SPLITS))
    table.add_row("[bold]total", *(f"[bold]{sum(counts[s].values())}" for s in SPLITS))
    console.print(table)
    if scan.non_images:
        console.print(f"skipped {len(scan.non_images)} non-image file(s) (listed in split.json)")
    if scan.corrupt:
        console.print(f"[yellow]skipped {len(scan.corrupt)} unreadable image(s):[/]")
        for path in scan.corrupt:
            console.print(f"  {path}", highlight=False)
