"""The workflows every front end runs, each in one place: `ltcli` (the CLI), the web app, the study
runner and the benchmarks call these, so "split this raw folder", "test this run" or "resume this
run" mean the same thing wherever they are asked for (torchvision's references keep the workflow in
the library and the script thin).

Each takes plain values (paths, `RunFolder`s, options) and returns plain results; none prints, and
each reads a run only through `ltcli.run_folder.RunFolder`. Refusals are one-line `LtcliError`s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError
from ltcli.run_folder import CONFIG_NAME, LAST_CHECKPOINT, RunFolder
from ltcli.settings import spelled

if TYPE_CHECKING:

    from ltcli.data.source import DataSource
    from ltcli.engine.scoring import TestResult
    from ltcli.posthoc import PosthocPlan

TEST_SPLITS = ("test", "valid")


# --- datasets ---------------------------------------------------------------------------------------
def split_once(source: Path, destination: Path, options: SplitOptions | None = None) -> bool:
    """Split the raw (or already split) folder `source` into `destination` as `ltcli split` does
    (`ltcli.data.make.make_split`), unless that split exists (its split.json): True when made now.
    The app and studies name a split after its settings, so the same settings reuse it; a folder
    there without split.json is never replaced unless `options.force`."""
    from ltcli.data.make import make_split
    from ltcli.data.split import MANIFEST_NAME

    if (Path(destination) / MANIFEST_NAME).is_file():
        return False
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    make_split(Path(source), Path(destination), options or SplitOptions())
    return True


def dataset_folders(run: RunFolder) -> list[Path]:
    """The folders a run's dataset is read from, as its config.json records them (the dataset, and
    a lists dataset's image root): what the app checks lies inside its root before testing."""
    config = run.read_config() if RunFolder.holds_run(run.path) else {}
    recorded = config.get("dataset_root")
    if not recorded:
        raise LtcliError(f"{run.path} has no {CONFIG_NAME} naming its dataset (dataset_root): give --data PATH "
                         "or --dataset NAME")
    return [Path(str(recorded)), *([Path(str(config["data_root"]))] if config.get("data_root") else [])]


def dataset_of_run(run: RunFolder, data: Path | None = None, data_root: Path | None = None) -> DataSource:
    """The dataset to test `run` on: `data` when given (a folder, or a folder of lists over
    `data_root`), else the one its config.json records, its lists checked against their hashes."""
    from ltcli.data.source import open_source, source_of_run

    if data is not None:
        return open_source(Path(data), data_root)
    dataset_folders(run)  # the one message for a run that does not record its dataset
    return source_of_run(run.read_config(), data_root=data_root)


# --- testing ------------------------------------------------------------------------------------------
def check_test_split(split: str) -> None:
    if split not in TEST_SPLITS:
        raise LtcliError(f"--split must be {spelled(TEST_SPLITS)}, got {split!r}")


@contextmanager
def ensemble_folder(logs_dir: Path, dataset: str, out: Path | None = None) -> Iterator[Path]:
    """Where an ensemble's results go: `out` as given, else a fresh logs/ensembles/DATASET/STAMP
    (claimed atomically: two tests in the same second never share one), removed again when what runs
    inside fails before writing to it, so a failed test leaves no empty folder behind."""
    from ltcli.runs import create_ensemble_dir

    if out is not None:
        yield Path(out)
        return
    claimed = create_ensemble_dir(Path(logs_dir), dataset)
    try:
        yield claimed
    except BaseException:
        if claimed.is_dir() and not any(claimed.iterdir()):
            claimed.rmdir()
        raise


def run_test(runs: Sequence[RunFolder], split: str = "test", source: DataSource | Path | None = None,
             device: str = "auto", out: Path | None = None, force: bool = False,
             metric_options: dict[str, Any] | None = None, plan: PosthocPlan | None = None,
             logs_dir: Path | None = None) -> TestResult:
    """`ltcli test`: the best checkpoint of one run, results into its own folder (or `out`), or the
    averaged probabilities of several, results into `out` or else a fresh ensemble folder under
    `logs_dir` (`ensemble_folder`). `source`: the dataset (default: the first run's own)."""
    from ltcli.engine.scoring import test_runs

    check_test_split(split)
    if not runs:
        raise LtcliError("no run to test")
    if out is not None and RunFolder.holds_run(Path(out)) and not (
            len(runs) == 1 and Path(out).resolve() == runs[0].path.resolve()):
        raise LtcliError(f"--out {out} is another run's folder: its results would be read as that run's (`ltcli "
                         "runs`, `plot`, the app); choose a folder of its own")
    source = dataset_of_run(runs[0]) if source is None else source
    if len(runs) == 1 or out is not None:
        return test_runs(runs, source, split, device, out, force, metric_options, plan=plan)
    if logs_dir is None:
        raise LtcliError("an ensemble needs an output folder (--out) or a logs folder to claim one in")
    with ensemble_folder(logs_dir, runs[0].dataset) as folder:
        return test_runs(runs, source, split, device, folder, force, metric_options, plan=plan)


# --- resuming -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunProgress:
    """How far a run got, by its last checkpoint (the truth after a kill: the logs may be ahead)."""

    run: RunFolder
    epochs_done: int
    epochs: int

    @property
    def finished(self) -> bool:
        return self.epochs_done >= self.epochs


def run_progress(run: RunFolder) -> RunProgress:
    """The epochs a run has done and planned, from its checkpoint_last.pt; refused without one."""
    from ltcli.engine import persist

    if not run.last_checkpoint.is_file():
        raise LtcliError(f"{run.path} has no {LAST_CHECKPOINT} to resume from")
    last = persist.load_last(run)
    return RunProgress(run, last.epoch + 1, int(last.config.get("epochs", 0)))


def check_resumable(run: RunFolder) -> RunProgress:
    """The progress of a run `--resume` can continue; a run with no checkpoint_last.pt, or one that
    finished all its epochs, is refused in one line (the message `--resume` itself gives)."""
    from ltcli.engine import persist

    progress = run_progress(run)
    persist.refuse_finished(run, progress.epochs_done, progress.epochs)
    return progress


# --- recipes of the front ends --------------------------------------------------------------------------
TUNE_KEEPS = ("dataset", "model", "height", "width", "hflip", "batch_size", "workers", "seed", "lr", "momentum",
              "weight_decay")


def tune_options(run: RunFolder, objective: str, epochs: int, start: str | None = None, freeze: str = "none"
                 ) -> dict[str, Any]:
    """The options of "tune this run with `objective` for `epochs` epochs": a new run from the run's
    best checkpoint (--init-from `start`, default the run's folder), with its dataset and input
    settings, a cosine schedule without warmup, `freeze` (--freeze: e.g. backbone, tuning the
    classifier alone). Checked as TrainConfig checks any run."""
    from ltcli.config import TrainConfig

    config = run.read_config()
    given = {k: config[k] for k in TUNE_KEEPS if k in config}
    given.update(objective=objective, epochs=epochs, sched="cosine", warmup_epochs=0, freeze=freeze,
                 init_from=start or str(run.path), name=f"{objective} tune of {run.stamp}")
    TrainConfig.create(**given)
    return given


def ensemble_plan(original: RunFolder, temperatures: str, split: str = "test") -> PosthocPlan:
    """Check "then average the tuned run with `original` at t1,t2" before anything trains: two
    temperatures (t1 the tuned run's, t2 the original's), and an original with a classifier."""
    from ltcli.posthoc import PosthocPlan

    if len(str(temperatures).split(",")) != 2:
        raise LtcliError(f"the ensemble takes two temperatures, t1 (the tuned run) and t2 (the run it starts "
                         f"from), e.g. 1,2; got {temperatures!r}")
    if original.read_config().get("command") == "pretrain":
        raise LtcliError(f"{original.path} is a pre-training run (no classifier): the ensemble averages the tuned "
                         "run with a trained run")
    return PosthocPlan.from_options(temperatures=temperatures, num_runs=2, split=split)


def tuned_ensemble(tuned: RunFolder, original: RunFolder, temperatures: str, split: str = "test",
                   device: str = "auto", logs_dir: Path | None = None) -> TestResult:
    """The course app's GML plug-in after its tuning: test the tuned run and its original (each
    into its own folder, unless tested already), then their temperature ensemble, the mean of
    softmax(z_tuned / t1) and softmax(z_original / t2) (`ltcli test --run TUNED --run ORIGINAL
    --temperatures t1,t2`), into a fresh ensemble folder under `logs_dir`."""
    plan = ensemble_plan(original, temperatures, split)
    for run in (tuned, original):
        if not run.metrics_path(split).is_file():
            run_test([run], split, device=device)
    return run_test([tuned, original], split, device=device, plan=plan, logs_dir=logs_dir)


def rescaled_schedule(values: dict[str, Any], epochs: int) -> dict[str, Any]:
    """A recipe's schedule (its config-file values) run in `epochs` epochs: the warmup, the rate
    drops and DRW's start moved to the same fractions of the run, by the rule the default schedule
    scales by (`ltcli.schedule_rules.scaled_schedule`)."""
    from ltcli.schedule_rules import scale_epoch, scaled_schedule

    planned = int(values.get("epochs", 200))
    warmup, stages = scaled_schedule(epochs, planned, list(values.get("lr_steps") or [planned]),
                                     int(values.get("warmup_epochs", 5)))
    scaled: dict[str, Any] = {"epochs": epochs, "lr_steps": stages, "warmup_epochs": warmup}
    if values.get("drw_epoch") is not None:
        scaled["drw_epoch"] = min(scale_epoch(values["drw_epoch"], epochs, planned), epochs - 1)
    return scaled
