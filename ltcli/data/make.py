"""One split from options, start to finish: what `ltcli split` and `ltcli study` both call.

The steps: check the options, scan the source, plan the split (or keep an already split source's
splits), then shape the training part (a long tail, or exact counts), choose the similar-sample
mixes, and write it all at once (`ltcli.data.split.write_split`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

from ltcli.data.counts import plan_counts
from ltcli.data.folder import FolderScan, list_class_dirs, scan_class_folders, split_folders
from ltcli.data.longtail import PROFILES, parse_class_order, plan_long_tail, resolve_imbalance_factor
from ltcli.data.pool import UNLABELED_SPLIT, plan_pool
from ltcli.data.similar import parse_similar, plan_similar
from ltcli.data.split import DEFAULT_RATIOS, LINK_MODES, SplitPlan, keep_in_train
from ltcli.data.staging import remove_stale
from ltcli.errors import LtcliError
from ltcli.settings import option, spelled


@dataclass
class SplitOptions:
    """The options of a split, declared once: `ltcli split`'s flags, a study file's `split:` keys
    (SPLIT_KEYS) and the app's split of a raw folder read them from here."""

    ratios: str | None = option(None, f"train,valid,test fractions of a raw folder (default {DEFAULT_RATIOS}).")
    seed: int = option(0, "Seed of the per-class shuffles and long-tail choices.")
    link: str = option("copy", f"{spelled(LINK_MODES)} the files.", choices=LINK_MODES)
    force: bool = option(False, "Replace an existing a_datasets/NAME.")
    imbalance_factor: float | None = option(  # read as head / tail by every front end (split, demo-data, the app)
        None, "Long-tail imbalance: head count / tail count (100), or its inverse, tail / head (0.01), the same "
        "tail.", flags=("--imbalance-factor", "--imb_factor"),
        parse=partial(resolve_imbalance_factor, flag="--imbalance-factor"))
    profile: str | None = option(None, f"Long-tail profile: {spelled(PROFILES)} (default {PROFILES[0]}).",
                                 choices=PROFILES)
    class_order: str | None = option(None, "Head-to-tail class order, comma separated (default: sorted names).")
    n_max: int | None = option(None, "Head class count (default: the largest train count available).")
    counts: str | None = option(None, "Exact training images per class: 5000,100 (sorted class order; 100*9 "
                                "repeats), or CLASS=N,... naming every class.")
    similar: Sequence[str] = option(
        help="A:B:P:LAMBDA: replace a fraction P of class A's training images by LAMBDA*x_A+(1-LAMBDA)*x_B (PNG; "
        "repeatable, one per class A).", factory=tuple, cli_type=list[str])
    valid_from_train: float | None = option(
        None, "A source with train/ and test/ only: carve this fraction of each train class off as valid/ (seeded, "
        "at least one image), e.g. 0.1.")
    unlabeled_pool: float | None = option(
        None, "Also write Yang & Xu's unlabeled pool to NAME/unlabeled/: 5x the labelled train total, spread over the "
        "classes (head to tail) by this rho_U, tail/head (0.01) or head/tail (100); 1 is balanced. For `train "
        "--unlabeled`.", flags=("--unlabeled-pool", "--imb_factor_unlabel"))
    unlabeled_src: str | None = option(
        None, "Class folders the pool is drawn from (default: the training images the long tail left out).",
        cli_type=Path)


# A study's `split:` keys: the folder to split, and every option but --force (the study replaces its own splits).
SPLIT_KEYS = ("src", *(f.name for f in fields(SplitOptions) if f.name != "force"))


def check_long_tail_options(o: SplitOptions) -> float | None:
    """Refuse long-tail options that would be silently ignored, and numbers that make no tail
    (nan, inf, a factor of 0 or below, an n_max below 1), before any scanning. Returns the factor
    as head / tail (0.01, tail / head, is 100)."""
    given = [flag for flag, value in (("--imbalance-factor", o.imbalance_factor), ("--profile", o.profile),
                                      ("--class-order", o.class_order), ("--n-max", o.n_max)) if value is not None]
    if o.counts is not None:
        if given:
            raise LtcliError(f"--counts gives every class's count itself: drop {', '.join(given)}")
        return None
    if o.imbalance_factor is None:
        if given:  # --imbalance-factor is not among them
            raise LtcliError(f"{', '.join(given)} shape a long tail: add --imbalance-factor F")
        return None
    imbalance_factor = resolve_imbalance_factor(o.imbalance_factor, "--imbalance-factor")
    if o.n_max is not None and o.n_max < 1:
        raise LtcliError(f"--n-max must be at least 1, got {o.n_max}")
    if o.profile is not None and o.profile not in PROFILES:
        raise LtcliError(f"unknown --profile {o.profile!r}: choose one of {', '.join(PROFILES)}")
    return imbalance_factor


def check_valid_fraction(fraction: float | None, presplit: bool, source: Path) -> None:
    """--valid-from-train: a fraction in (0, 1), for a source that is already split (a raw one gets
    its valid/ from --ratios)."""
    if fraction is None:
        return
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise LtcliError(f"--valid-from-train must be a fraction in (0, 1), got {fraction}")
    if not presplit:
        raise LtcliError(f"--valid-from-train carves valid/ out of train/ of an already split source; {source} is "
                         "a raw folder: give its valid share in --ratios")


def default_scan(roots: dict[str, Path]) -> dict[str, FolderScan]:
    return {key: scan_class_folders(root) for key, root in roots.items()}


def make_split(
    source: Path,
    destination: Path,
    options: SplitOptions,
    scan: Callable[[dict[str, Path]], dict[str, FolderScan]] = default_scan,
    write: Callable[[SplitPlan, list[FolderScan], Path, str, bool], dict] | None = None,
) -> tuple[dict, SplitPlan, dict[str, FolderScan]]:
    """Split `source` into `destination`; returns the manifest (split.json), the plan and the scans.
    `scan` and `write` let the CLI show progress bars."""
    from ltcli.data.lists import find_lists  # torch: only when splitting
    from ltcli.data.split import carve_valid, check_destination, parse_ratios, plan_presplit, plan_split, write_split

    o = options
    if find_lists(source) is not None:
        raise LtcliError(f"{source} holds `path label` lists: they are used as they are, not split (`ltcli train "
                         f"--data {source} --data-root IMAGES`; `ltcli stats {source}` for the counts)")
    imbalance_factor = check_long_tail_options(o)
    similar = [parse_similar(text) for text in o.similar]  # fail fast, before any scanning
    presplit = split_folders(source) if source.is_dir() else {}
    if presplit and o.ratios is not None:
        raise LtcliError(f"{source} is already split ({', '.join(presplit)}): --ratios applies to raw folders only")
    check_valid_fraction(o.valid_from_train, bool(presplit), source)
    parsed = None if presplit else parse_ratios(o.ratios or DEFAULT_RATIOS)
    if not presplit:
        list_class_dirs(source)  # fail fast with a clear message
    remove_stale(destination)  # left by a killed split; may bring back a split lost mid-swap
    check_destination(source, destination, o.force)
    if o.unlabeled_src is not None and o.unlabeled_pool is None:
        raise LtcliError("--unlabeled-src is where --unlabeled-pool RHO_U draws from: add --unlabeled-pool")
    pool_rho = None if o.unlabeled_pool is None else 1 / resolve_imbalance_factor(o.unlabeled_pool, "--unlabeled-pool")
    roots = dict(presplit or {"raw": source})
    if o.unlabeled_src is not None:
        roots[UNLABELED_SPLIT] = Path(o.unlabeled_src)
    scans = scan(roots)
    pool_scan = scans.pop(UNLABELED_SPLIT, None)
    plan = plan_presplit(source, scans, o.seed) if presplit else plan_split(scans["raw"], parsed, o.seed)
    if o.valid_from_train is not None:
        carve_valid(plan, o.valid_from_train)
    shape_train(plan, o, imbalance_factor, pool_rho, pool_scan, similar)
    manifest = (write or write_split)(plan, list(scans.values()), destination, o.link, o.force)
    return manifest, plan, scans


def shape_train(plan: SplitPlan, o: SplitOptions, imbalance_factor: float | None, pool_rho: float | None,
                pool_scan: FolderScan | None, similar: list) -> None:
    """The train split made long-tailed (exact --counts, or --imbalance-factor's profile), its left-over
    images drawn into an unlabeled pool, and the --similar mixes planned."""
    available = plan.counts()["train"]
    before = {name: list(files) for name, files in plan.assignment["train"].items()}
    if o.counts is not None:
        plan.exact_counts = plan_counts(o.counts, available)
        keep_in_train(plan, plan.exact_counts.targets)
    elif imbalance_factor is not None:
        order = parse_class_order(o.class_order, list(available))
        plan.long_tail = plan_long_tail(available, imbalance_factor, o.profile or PROFILES[0], order, o.n_max)
        keep_in_train(plan, plan.long_tail.targets)
    if pool_rho is not None:
        add_pool(plan, before, pool_scan, pool_rho, parse_class_order(o.class_order, list(available)), o.seed)
    if similar:
        plan.similar = plan_similar(similar, plan.assignment["train"], o.seed)


def add_pool(plan: SplitPlan, before: dict[str, list[Path]], scan: FolderScan | None, rho: float, order: list[str],
             seed: int) -> None:
    """Yang & Xu's unlabeled pool as the split's `unlabeled/` part: from `scan` (--unlabeled-src), else
    from the training images the long tail (or --counts) left out, so it never holds a valid/test image."""
    if scan is not None:
        missing = [c for c in order if c not in scan.images]
        if missing:
            raise LtcliError(f"--unlabeled-src {scan.root} has no class folder {missing[0]!r}: the pool is drawn by "
                             "class, so it needs the dataset's class folders")
        candidates, root, where = {c: list(scan.images[c]) for c in order}, scan.root, str(scan.root)
    else:
        kept = {c: set(files) for c, files in plan.assignment["train"].items()}
        candidates = {c: [f for f in before[c] if f not in kept[c]] for c in order}
        root, where = plan.split_roots.get("train", plan.source), "left-out training images"
    labelled = {c: len(files) for c, files in plan.assignment["train"].items()}
    plan.pool, plan.assignment[UNLABELED_SPLIT] = plan_pool(candidates, order, labelled, rho, seed, where)
    plan.split_roots[UNLABELED_SPLIT] = root
