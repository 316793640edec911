"""`ltcli download`: torchvision's real download/verify/extract path on tiny archives in the official
formats made here (the expected checksums patched to theirs), the raw folder it writes, the
long-tailed split of it, and the one-line errors. Nothing here touches the network."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import tree_digest
from PIL import Image

from ltcli.data.longtail import long_tail_counts

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: connection refused at once, never a real download
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def images(labels: list[int], seed: int) -> np.ndarray:
    """Random uint8 images, one per label, in CIFAR's row layout (N x 3072: the R, G, B planes)."""
    return np.random.default_rng(seed).integers(0, 256, (len(labels), 3072), dtype=np.uint8)


def tar_folder(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)


def make_cifar(cache: Path, monkeypatch: pytest.MonkeyPatch, kind: str, train_per_class: int, test_per_class: int,
               names: list[str]) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cache/<archive> as the official CIFAR python archive, and torchvision's class told its checksums."""
    import torchvision.datasets

    cls = torchvision.datasets.CIFAR10 if kind == "cifar10" else torchvision.datasets.CIFAR100
    label_key = "labels" if kind == "cifar10" else "fine_labels"
    work = cache / "build" / cls.base_folder
    work.mkdir(parents=True)
    splits = {}
    train_labels = [c for _ in range(train_per_class) for c in range(len(names))]
    test_labels = [c for _ in range(test_per_class) for c in range(len(names))]
    splits["train"] = (images(train_labels, 1), train_labels)
    splits["test"] = (images(test_labels, 2), test_labels)
    # Train rows are spread over the archive's train files in order, as in the official batches.
    chunks = np.array_split(np.arange(len(train_labels)), len(cls.train_list))
    for (filename, _), rows in zip(cls.train_list, chunks, strict=True):
        batch = {"data": splits["train"][0][rows], label_key: [train_labels[r] for r in rows]}
        (work / filename).write_bytes(pickle.dumps(batch))
    ((test_file, _),) = cls.test_list
    (work / test_file).write_bytes(pickle.dumps({"data": splits["test"][0], label_key: test_labels}))
    (work / cls.meta["filename"]).write_bytes(pickle.dumps({cls.meta["key"]: names}))
    tar_folder(work, cache / cls.filename)
    monkeypatch.setattr(cls, "url", UNREACHABLE + cls.filename)
    monkeypatch.setattr(cls, "tgz_md5", md5(cache / cls.filename))
    monkeypatch.setattr(cls, "train_list", [[f, md5(work / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5(work / f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(work / cls.meta["filename"])})
    import shutil

    shutil.rmtree(cache / "build")  # only the archive is left: torchvision must extract it
    return splits


def make_mnist(cache: Path, monkeypatch: pytest.MonkeyPatch, kind: str, per_class: dict[str, int]) -> dict:
    """cache/<Class>/raw/*.gz in the official IDX format, and torchvision's class told their checksums."""
    import torchvision.datasets

    cls = torchvision.datasets.MNIST if kind == "mnist" else torchvision.datasets.FashionMNIST
    raw = cache / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    splits = {}
    for split, prefix, seed in (("train", "train", 3), ("test", "t10k", 4)):
        count = per_class[split]
        labels = [c for _ in range(count) for c in range(10)]
        pixels = np.random.default_rng(seed).integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 2051, len(labels), 28, 28) + pixels.tobytes()))
        (raw / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 2049, len(labels)) + bytes(labels)))
        splits[split] = (pixels, labels)
    monkeypatch.setattr(cls, "mirrors", [UNREACHABLE])
    monkeypatch.setattr(cls, "resources", [(name, md5(raw / name)) for name, _ in cls.resources])
    return splits


def test_cifar10_becomes_a_raw_folder_with_the_official_split_and_pixels(tmp_path, cli, monkeypatch):
    splits = make_cifar(tmp_path / "cache", monkeypatch, "cifar10", train_per_class=20, test_per_class=3,
                        names=CIFAR10_NAMES)
    result = cli("download", "cifar10", "--root", "data_split", "--cache", "cache")
    root = tmp_path / "data_split" / "cifar10"
    assert "next: ltcli split cifar10-lt --src data_split/cifar10 --imbalance-factor 100" in result.output
    assert sorted(p.name for p in root.iterdir()) == ["test", "train"]
    for split, per_class in (("train", 20), ("test", 3)):
        assert sorted(p.name for p in (root / split).iterdir()) == CIFAR10_NAMES
        assert all(len(list((root / split / name).iterdir())) == per_class for name in CIFAR10_NAMES)
    # Image k of a split is the k-th row of the official arrays: its class folder and its pixels.
    data, labels = splits["train"]
    for index in (0, 57, 199):
        png = root / "train" / CIFAR10_NAMES[labels[index]] / f"{index:03d}.png"
        expected = data[index].reshape(3, 32, 32).transpose(1, 2, 0)
        assert np.array_equal(np.asarray(Image.open(png)), expected)
    assert not [p for p in tmp_path.joinpath("data_split").iterdir() if p.name.startswith(".cifar10")]


def test_the_long_tailed_split_of_a_download_is_the_literatures(tmp_path, cli, monkeypatch):
    """`ltcli split` of the download: train follows the exp profile in label order, test stays whole."""
    make_cifar(tmp_path / "cache", monkeypatch, "cifar10", train_per_class=20, test_per_class=3, names=CIFAR10_NAMES)
    cli("download", "cifar10", "--cache", "cache")
    cli("split", "cifar10-lt", "--src", "data_split/cifar10", "--imbalance-factor", "10")
    split = tmp_path / "a_datasets" / "cifar10-lt"
    expected = [int(20 * 0.1 ** (i / 9)) for i in range(10)]  # Cao et al.'s get_img_num_per_cls, imb_factor 0.1
    assert [len(list((split / "train" / name).iterdir())) for name in CIFAR10_NAMES] == expected
    assert sorted(p.name for p in split.iterdir()) == ["split.json", "test", "train"]
    source_test = tree_digest(tmp_path / "data_split" / "cifar10" / "test")
    copied_test = tree_digest(split / "test")
    assert {k: v.split(":")[0] for k, v in copied_test.items()} == {k: v.split(":")[0] for k, v in source_test.items()}


def test_cifar100_folders_sort_in_label_order(tmp_path, cli, monkeypatch):
    names = ["apple", "aquarium_fish", "baby", "maple_tree", "man", "pickup_truck", "pine_tree", "sea", "seal",
             "sweet_pepper", "willow_tree", "wolf"]  # neighbours whose order '_' could upset
    make_cifar(tmp_path / "cache", monkeypatch, "cifar100", train_per_class=2, test_per_class=1, names=names)
    cli("download", "cifar100", "--cache", "cache")
    folders = sorted(p.name for p in (tmp_path / "data_split" / "cifar100" / "train").iterdir())
    # sorted() must give the label order for the split's head-to-tail order; here it does not for
    # 'man'/'maple_tree', so the folders carry their label index.
    assert folders == [f"{i:02d}-{name}" for i, name in enumerate(names)]


@pytest.mark.parametrize(("kind", "folders"), [
    ("mnist", [str(d) for d in range(10)]),
    ("fashion-mnist", ["0-T-shirt-top", "1-Trouser", "2-Pullover", "3-Dress", "4-Coat", "5-Sandal", "6-Shirt",
                       "7-Sneaker", "8-Bag", "9-Ankle boot"]),
])
def test_mnist_style_sets_download_too(tmp_path, cli, monkeypatch, kind, folders):
    splits = make_mnist(tmp_path / "cache", monkeypatch, kind, {"train": 3, "test": 2})
    cli("download", kind, "--cache", "cache")
    root = tmp_path / "data_split" / kind
    assert sorted(p.name for p in (root / "train").iterdir()) == folders
    assert sum(1 for _ in (root / "test").rglob("*.png")) == 20
    pixels, labels = splits["train"]
    assert np.array_equal(np.asarray(Image.open(root / "train" / folders[labels[13]] / "13.png")), pixels[13])


def test_cifar100_real_names_already_sort_in_label_order():
    """The official CIFAR-100 fine label names (label order) are sorted, so its folders keep plain names."""
    from ltcli.data.download import folder_names

    names = ("apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
             "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
             "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
             "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
             "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
             "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
             "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman "
             "worm").split()
    assert len(names) == 100
    assert folder_names(names) == names


def test_without_a_network_it_is_one_error_line_and_nothing_is_written(tmp_path, cli, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", UNREACHABLE + "cifar-10-python.tar.gz")
    result = cli("download", "cifar10", "--cache", "cache", ok=False)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.output
    assert "cannot download cifar10" in errors[0] and "check the network connection" in errors[0]
    assert not (tmp_path / "data_split" / "cifar10").exists()


def test_a_cache_that_is_a_file_is_one_line_that_does_not_blame_the_network(tmp_path, cli):
    (tmp_path / "afile").write_text("not a folder")
    result = cli("download", "mnist", "--cache", "afile/cache", ok=False)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.output
    assert "cannot keep the mnist archive in afile/cache" in errors[0] and "not a directory" in errors[0]
    assert "network" not in errors[0]


def test_an_existing_dataset_is_never_overwritten(tmp_path, cli, monkeypatch):
    make_cifar(tmp_path / "cache", monkeypatch, "cifar10", train_per_class=1, test_per_class=1, names=CIFAR10_NAMES)
    mine = tmp_path / "data_split" / "cifar10" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    result = cli("download", "cifar10", "--cache", "cache", ok=False)
    assert result.exit_code == 1 and "already exists" in result.output and "never overwrites" in result.output
    assert [p.name for p in mine.parent.iterdir()] == ["notes.txt"] and mine.read_text() == "mine"


def test_unknown_dataset_names_the_choices(cli):
    result = cli("download", "imagenet", ok=False)
    assert result.exit_code == 1 and "cifar10, cifar100, mnist, fashion-mnist" in result.output


@pytest.mark.parametrize(("n_max", "classes", "literature"), [
    # CIFAR-10-LT, IF 100 (Cao et al. 2019; the shared data's MANIFEST; 12,406 images in LA's code)
    (5000, 10, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]),
    # CIFAR-100-LT, IF 100: LDAM's formula written out here; 10,847 images in LA's code
    (500, 100, [int(500 * 0.01 ** (i / 99)) for i in range(100)]),
])
def test_long_tail_counts_are_the_literatures(n_max, classes, literature):
    counts = long_tail_counts(n_max, classes, 100)
    assert counts == literature
    assert sum(counts) == {10: 12406, 100: 10847}[classes]
    assert (counts[0], counts[-1]) == (n_max, n_max // 100)
