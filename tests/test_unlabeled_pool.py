"""Yang & Xu's unlabeled pool (`split --unlabeled-pool RHO_U`): 5x the labelled total spread by rho_U,
drawn from the images the long tail left out (or --unlabeled-src), never from valid/ or test/; and the
Essence code's option names (`--imb_factor`, `--imb_factor_unlabel`, `--pretrained_model`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltcli.data.pool import pool_counts


def naive_pool(labelled: list[int], rho: float) -> list[int]:
    """The rule written out: total 5x, base total // C, exponential by rho_U, scaled to the total, truncated."""
    total = 5 * sum(labelled)
    base = total // len(labelled)
    raw = [int(base * rho ** (i / (len(labelled) - 1))) for i in range(len(labelled))]
    return [int(n * total / sum(raw)) for n in raw]


CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # Cao et al.'s CIFAR-10-LT, 12406 images


@pytest.mark.parametrize(("labelled", "rho", "expected"), [
    ([4, 2, 1], 0.25, [21, 9, 3]),  # by hand: total 35, base 11, raw 11,5,2 (sum 18), x35/18 truncated
    ([2, 1, 1], 0.25, [12, 6, 2]),  # total 20, base 6, raw 6,3,1, x2
    (CIFAR10_LT_100, 1.0, [6203] * 10),  # balanced: 62030 / 10
    (CIFAR10_LT_100, 0.01, naive_pool(CIFAR10_LT_100, 0.01)),
    (CIFAR10_LT_100, 0.02, naive_pool(CIFAR10_LT_100, 0.02)),
])
def test_pool_counts(labelled, rho, expected):
    counts = pool_counts(labelled, rho)
    assert counts == expected
    assert sum(counts) <= 5 * sum(labelled) and counts == sorted(counts, reverse=True)


def files(folder: Path) -> dict[str, set[str]]:
    return {c.name: {f.name for f in c.iterdir()} for c in sorted(folder.iterdir())}


def test_split_writes_the_pool_from_left_out_training_images(cli, make_class_folder, tmp_path):
    make_class_folder({"apple": 40, "leaf": 20, "sky": 7}, tmp_path / "data_split" / "fruit")
    cli("split", "fruit", "--counts", "2,1,1", "--imb_factor_unlabel", "0.25")  # the Essence code's flag name
    out = tmp_path / "a_datasets" / "fruit"
    pool, train = files(out / "unlabeled"), files(out / "train")
    assert {c: len(f) for c, f in pool.items()} == {"apple": 12, "leaf": 6, "sky": 2}
    for name in pool:
        held = set().union(*(files(out / s).get(name, set()) for s in ("train", "valid", "test")))
        assert not pool[name] & held  # never a labelled, valid or test image
        assert pool[name] <= {p.name for p in (tmp_path / "data_split" / "fruit" / name).iterdir()}
    assert {c: len(f) for c, f in train.items()} == {"apple": 2, "leaf": 1, "sky": 1}
    manifest = json.loads((out / "split.json").read_text())
    assert manifest["unlabeled_pool"]["targets"] == {"apple": 12, "leaf": 6, "sky": 2}
    assert manifest["unlabeled_pool"]["rho"] == 0.25 and manifest["counts"]["unlabeled"]["apple"] == 12


def test_split_draws_the_pool_from_unlabeled_src(cli, make_class_folder, tmp_path):
    make_class_folder({"apple": 40, "leaf": 20, "sky": 7}, tmp_path / "data_split" / "fruit")
    extra = make_class_folder({"apple": 25, "leaf": 10, "sky": 5}, tmp_path / "extra")
    cli("split", "fruit", "--counts", "4,2,1", "--unlabeled-pool", "4", "--unlabeled-src", str(extra))  # 4 = 1/0.25
    pool = files(tmp_path / "a_datasets" / "fruit" / "unlabeled")
    assert {c: len(f) for c, f in pool.items()} == {"apple": 21, "leaf": 9, "sky": 3}
    assert all(pool[c] <= {p.name for p in (extra / c).iterdir()} for c in pool)


@pytest.mark.parametrize(("args", "message"), [
    (("--counts", "4,2,1", "--unlabeled-pool", "1"),
     "error: --unlabeled-pool needs 11 unlabeled images of class 'sky' (5x the 7 labelled, by rho_U 1) but left-out "
     "training images has 4: give a larger --unlabeled-src, or a rho_U that asks fewer of it"),
    (("--unlabeled-src", "extra"), "error: --unlabeled-src is where --unlabeled-pool RHO_U draws from: add "
                                   "--unlabeled-pool"),
    (("--unlabeled-pool", "nan"), "error: --unlabeled-pool must be a finite number above 0"),
])
def test_pool_refusals_are_one_line(cli, make_class_folder, tmp_path, args, message):
    make_class_folder({"apple": 40, "leaf": 20, "sky": 7}, tmp_path / "data_split" / "fruit")
    result = cli("split", "fruit", *args, ok=False)
    assert result.exit_code == 1 and " ".join(result.output.split()).startswith(message)
    assert not (tmp_path / "a_datasets" / "fruit").exists()


@pytest.mark.parametrize(("flag", "where"), [("--imb_factor", "when it splits the data"),
                                             ("--imb_factor_unlabel", "builds the unlabeled pool when it splits")])
def test_train_answers_the_essence_codes_split_options_with_ltclis_way(cli, flag, where):
    result = cli("train", "--dataset", "d", f"{flag}=0.01", ok=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"error: the Essence code's {flag}: ltcli") and where in result.output


def test_split_imb_factor_and_train_pretrained_model_are_aliases(cli, make_class_folder, tmp_path, monkeypatch):
    make_class_folder({"apple": 40, "leaf": 20, "sky": 7}, tmp_path / "data_split" / "fruit")
    cli("split", "fruit", "--imb_factor", "0.5", "--n-max", "10")
    manifest = json.loads((tmp_path / "a_datasets" / "fruit" / "split.json").read_text())
    assert manifest["long_tail"]["imbalance_factor"] == 2
    seen = []
    monkeypatch.setattr("ltcli.engine.train.fit", lambda config, console, **_: seen.append(config))
    (tmp_path / "ssp.pt").write_bytes(b"")
    cli("train", "--dataset", "fruit", "--pretrained_model", str(tmp_path / "ssp.pt"))
    assert seen[0].weights == str(tmp_path / "ssp.pt")


def test_train_pseudo_labels_the_splits_own_pool(cli, make_class_folder, tmp_path):
    """The pool lies in a_datasets/NAME/unlabeled/: --unlabeled takes it (it is no labelled split), and
    every pool image joins training with RUN's label."""
    from conftest import TRAIN_ARGS

    make_class_folder({"apple": 40, "leaf": 20, "sky": 7}, tmp_path / "data_split" / "fruit")
    cli("split", "fruit", "--counts", "2,1,1", "--unlabeled-pool", "0.25")
    cli("train", "--dataset", "fruit", "--objective", "ERM", *TRAIN_ARGS)
    (first,) = (tmp_path / "logs" / "resnet20" / "fruit" / "ERM").iterdir()
    cli("train", "--dataset", "fruit", "--objective", "CE", "--unlabeled", "a_datasets/fruit/unlabeled",
        "--pseudo-labels-from", str(first), *TRAIN_ARGS)
    (run,) = [p for p in (tmp_path / "logs" / "resnet20" / "fruit").glob("*/*") if p != first]
    record = json.loads((run / "config.json").read_text())["pseudo_labels"]
    assert record["images"] == record["kept"] == 12 + 6 + 2
