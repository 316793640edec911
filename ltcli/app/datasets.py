"""Datasets for the Train tab: a split dataset as it is, or a raw folder split on the spot
(`ltcli.workflows.split_once`: the split `ltcli split` makes, reused when it exists)."""

from __future__ import annotations

from pathlib import Path

from ltcli import workflows
from ltcli.app.paths import DATASETS_AREA, RAW_AREA, AppRoot, PathRefused
from ltcli.data.longtail import PROFILES
from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError


def split_name(raw: str, imbalance_factor: float | None, profile: str | None, seed: int) -> str:
    """The a_datasets/ name of a raw folder split by the app: its settings in the name (no profile:
    the default one), so the same settings reuse the same split and other settings never replace it."""
    tail = f"-if{imbalance_factor:g}-{profile or PROFILES[0]}" if imbalance_factor else ""
    return f"{raw}{tail}-seed{seed}"


def training_dataset(root: AppRoot, choice: str, imbalance_factor: float | None, profile: str | None, seed: int
                     ) -> tuple[str, str]:
    """(name under a_datasets/, what happened) for the page's dataset choice: `a_datasets/NAME` as
    it is (a split folder, or a folder of NAME_{train,val,test}.txt lists), `data_split/NAME` split
    (long-tailed when `imbalance_factor` is given) into a new
    a_datasets/ folder, or reused when that split exists already."""
    folder = root.confine_tree(root.confine(choice, (DATASETS_AREA, RAW_AREA), "dataset"), choice, "dataset")
    area = Path(str(choice).strip()).parts[0]
    if not folder.is_dir():
        raise LtcliError(f"no dataset folder {choice}")
    from ltcli.data.lists import find_lists

    if area != DATASETS_AREA and find_lists(folder) is not None:
        raise LtcliError(f"{choice} holds `path label` lists, which are used as they are, never split: move the "
                         f"folder to {DATASETS_AREA}/")
    if area == DATASETS_AREA:
        if imbalance_factor:
            raise LtcliError(f"{choice} is split already: the imbalance factor applies to raw folders (data_split/)")
        if folder.parent != root.datasets.resolve():
            raise PathRefused(f"dataset {choice!r} is refused: give a_datasets/NAME")
        return folder.name, f"dataset {choice}"
    name = split_name(folder.name, imbalance_factor, profile, seed)
    options = SplitOptions(seed=seed, imbalance_factor=imbalance_factor, profile=profile if imbalance_factor else None)
    if not workflows.split_once(folder, root.datasets / name, options):
        return name, f"reused the split {DATASETS_AREA}/{name} of {choice}"
    return name, f"split {choice} into {DATASETS_AREA}/{name}"


def list_image_root(root: AppRoot, choice: str, text: str | None) -> str | None:
    """The page's "image root" of a list dataset, root-relative (`data_split/IMAGES`, the raw area, or a
    folder under a_datasets/), checked before anything is written; None when left empty (the images are
    then under the lists' own folder). Confined like every path the app reads (no absolute path, no
    `..`, no symlink out of the root), and refused for a folder dataset, whose images are its own."""
    text = str(text or "").strip()
    if not text:
        return None
    from ltcli.data.lists import find_lists

    dataset = root.confine(choice, (DATASETS_AREA, RAW_AREA), "dataset")
    if find_lists(dataset) is None:
        raise LtcliError(f"the image root is for list datasets (NAME_train.txt ...), and {choice} holds none: leave "
                         "it empty")
    folder = root.confine(text, (RAW_AREA, DATASETS_AREA), "image root")
    if not folder.is_dir():
        raise LtcliError(f"no image root folder {text}")
    return root.relative(root.confine_tree(folder, text, "image root"))

