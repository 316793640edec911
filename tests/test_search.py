"""`ltcli study` with `search:` (Optuna) on the demo digits: a 6-trial search prunes the trials whose
learning rate is too small to learn, a rerun starts nothing finished, a kill -9 mid-trial resumes the
trial's run without counting it twice, two processes share one SQLite study without losing or
duplicating a trial, the outputs agree with the runs' own files, best.yaml trains, and each bad
input is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import read_csv

from ltcli.study.search import open_search
from ltcli.study.spec import read_study

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"model": "resnet20", "epochs": 2, "batchsize": 32, "height": 8, "width": 8, "augment": "none", "hflip": 0,
         "workers": 0, "device": "cpu", "warmup": 0, "sched": "cosine", "objective": "ERM"}
GOOD_LR, TINY_LR = 0.05, 1e-7
# Grid order is the parameters' names sorted, then each choice list in order: trials 0-2 learn (lr 0.05,
# seeds 0-2), trials 3-5 cannot (lr 1e-7). With 3 startup trials the median pruner compares each tiny-lr
# trial's first epoch with the three complete ones.
SEARCH = {"trials": 6, "sampler": "grid", "metric": "balanced_acc",
          "pruner": {"name": "median", "startup_trials": 3},
          "parameters": {"lr": {"choices": [GOOD_LR, TINY_LR]}, "seed": {"choices": [0, 1, 2]}}}


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """The demo digits (`ltcli demo-data`), split into train/valid/test once for the module."""
    from ltcli.data.demo import write_demo_dataset
    from ltcli.workflows import split_once

    root = tmp_path_factory.mktemp("digits")
    write_demo_dataset(root / "raw")
    split_once(root / "raw", root / "split")
    return root / "split"


def write_study(path: Path, digits: Path, name: str = "s", search: dict | None = None, **train) -> Path:
    document = {"name": name, "train": {**TRAIN, "data": str(digits), **train}, "search": search or SEARCH}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def stored_trials(tmp_path: Path, name: str, file: Path | None = None) -> list:
    study = read_study(file or tmp_path / f"{name}.yaml")
    study.points[0].train["logs_dir"] = str(tmp_path / "logs")
    return open_search(study, f"sqlite:///{tmp_path / 'logs' / 'studies' / name / 'search.db'}").trials


def test_six_trials_prune_the_tiny_rate_write_outputs_and_a_rerun_starts_nothing(cli, digits, tmp_path):
    study = write_study(tmp_path / "s.yaml", digits)
    result = cli("study", study)
    folder = tmp_path / "logs" / "studies" / "s"
    rows = {int(r["trial"]): r for r in read_csv(folder / "results.csv")}
    assert sorted(rows) == list(range(6))
    for number, row in rows.items():
        tiny = float(row["lr"]) == TINY_LR
        assert (float(row["lr"]), int(row["seed"])) == ((GOOD_LR, TINY_LR)[number // 3], number % 3)
        assert row["state"] == ("pruned" if tiny else "complete"), row
        run = tmp_path / row["run"]
        valid = read_csv(run / "valid.csv")
        assert len(valid) == int(row["epochs"]) == (1 if tiny else 2)  # pruned after its first epoch
        assert (run / "pruned.json").is_file() == tiny and (run / "checkpoint_last.pt").is_file()
        if not tiny:  # the trial's value is its run's best epoch on valid
            assert float(row["balanced_acc"]) == pytest.approx(max(float(v["balanced_acc"]) for v in valid))
    best = max((r for r in rows.values() if r["state"] == "complete"), key=lambda r: float(r["balanced_acc"]))
    assert [r["trial"] for r in rows.values() if r["best"] == "True"] == [best["trial"]]
    metrics = json.loads((tmp_path / best["run"] / "metrics.json").read_text())  # tested once, on test
    assert float(best["test_balanced_acc"]) == pytest.approx(metrics["balanced_acc"])
    assert not any((tmp_path / r["run"] / "metrics.json").exists() for r in rows.values() if r is not best)
    table = (folder / "table.md").read_text()
    assert "6 trials: 3 complete, 3 pruned, 0 failed." in table and f"Best trial {best['trial']} " in table
    first_line = next(line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit())
    assert first_line.startswith(f"| {best['trial']} | complete |")  # best first
    assert (folder / "history.svg").read_text().startswith("<?xml")
    importances = read_csv(folder / "importances.csv")
    assert {r["parameter"] for r in importances} == {"lr", "seed"}
    assert sum(float(r["importance"]) for r in importances) == pytest.approx(1.0)
    config = yaml.safe_load((folder / "best.yaml").read_text())
    assert config["lr"] == GOOD_LR and config["seed"] == int(best["seed"]) and config["select_metric"] == "balanced_acc"
    before = {r["run"]: (tmp_path / r["run"] / "checkpoint_last.pt").stat().st_mtime_ns for r in rows.values()}
    again = cli("study", study)
    assert "0 trial(s) ended in this run, 6 in the study" in again.output
    assert {r["run"]: (tmp_path / r["run"] / "checkpoint_last.pt").stat().st_mtime_ns
            for r in read_csv(folder / "results.csv")} == before
    assert len(stored_trials(tmp_path, "s")) == 6
    trained = cli("train", "--config", folder / "best.yaml", "--epochs", "1", "--logs-dir", "again")
    (run_config,) = (tmp_path / "again").rglob("config.json")
    recorded = json.loads(run_config.read_text())
    assert recorded["lr"] == GOOD_LR and recorded["seed"] == int(best["seed"]) and "done: best" in trained.output
    assert "trial" in result.output


# Runs `ltcli study` and SIGKILLs itself right after trial 1's run saves its epoch 1 (of 3).
DRIVER = """
import os, signal, sys
from ltcli.checkpoint import Checkpoint
from ltcli.cli import main
real_save = Checkpoint.save
def save(self, path):
    real_save(self, path)
    if "trials/0001" in str(path) and self.epoch == 1 and path.name == "checkpoint_last.pt":
        os.kill(os.getpid(), signal.SIGKILL)
Checkpoint.save = save
sys.argv = ["ltcli", "study", *sys.argv[1:]]
main()
"""


def run_cli(cwd: Path, *args: str, driver: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    command = [sys.executable, "-c", driver, *args] if driver else [sys.executable, "-m", "ltcli", "study", *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out + err


@pytest.mark.slow
def test_kill_9_mid_trial_then_rerun_resumes_it_and_counts_it_once(digits, tmp_path):
    search = {"trials": 3, "sampler": "random", "pruner": "none", "parameters": {"lr": {"low": 0.02, "high": 0.1}}}
    write_study(tmp_path / "k.yaml", digits, name="k", search=search, epochs=3)
    code, output = finish(run_cli(tmp_path, "k.yaml", driver=DRIVER))
    assert code == -signal.SIGKILL, output
    trial_dir = tmp_path / "logs" / "studies" / "k" / "trials" / "0001"
    (run,) = (p.parent for p in trial_dir.rglob("config.json"))
    assert len(read_csv(run / "valid.csv")) == 2
    killed_lr = json.loads((run / "config.json").read_text())["lr"]
    code, output = finish(run_cli(tmp_path, "k.yaml"))
    assert code == 0, output
    assert [p.parent for p in trial_dir.rglob("config.json")] == [run]  # resumed in place, no second run
    assert [int(r["epoch"]) for r in read_csv(run / "valid.csv")] == [0, 1, 2]  # every epoch once
    assert "resuming" in (trial_dir / "log.txt").read_text()
    trials = stored_trials(tmp_path, "k")
    states = sorted((t.number, t.state.name) for t in trials)
    assert states == [(0, "COMPLETE"), (1, "FAIL"), (2, "COMPLETE"), (3, "COMPLETE")]  # 1 taken back ...
    (retry,) = (t for t in trials if t.system_attrs.get("failed_trial") == 1)  # ... and retried first, once
    assert retry.number == 2 and retry.params["lr"] == killed_lr and retry.user_attrs["run"] == str(run.relative_to(
        tmp_path))
    rows = read_csv(tmp_path / "logs" / "studies" / "k" / "results.csv")
    assert sorted(int(r["trial"]) for r in rows) == [0, 2, 3] and len({r["run"] for r in rows}) == 3
    assert next(r for r in rows if r["trial"] == "2")["retries"] == "1"


@pytest.mark.slow
def test_jobs_2_beside_another_search_process_on_one_sqlite_study_lose_and_duplicate_no_trial(digits, tmp_path):
    search = {"trials": 5, "sampler": "random", "pruner": "none", "parameters": {"lr": {"low": 0.02, "high": 0.1}}}
    write_study(tmp_path / "j.yaml", digits, name="j", search=search, epochs=1)
    first, second = run_cli(tmp_path, "j.yaml", "--jobs", "2"), run_cli(tmp_path, "j.yaml")
    for process in (first, second):
        code, output = finish(process)
        assert code == 0, output
    trials = stored_trials(tmp_path, "j")
    assert sorted(t.number for t in trials) == list(range(5)) and all(t.state.name == "COMPLETE" for t in trials)
    runs = [t.user_attrs["run"] for t in trials]
    assert len(set(runs)) == 5
    folders = sorted(p.parent for p in (tmp_path / "logs" / "studies" / "j" / "trials").rglob("config.json"))
    assert [str(p.relative_to(tmp_path)) for p in folders] == sorted(runs)  # every run is a trial, once
    rows = read_csv(tmp_path / "logs" / "studies" / "j" / "results.csv")
    assert sorted(int(r["trial"]) for r in rows) == list(range(5))


def test_the_hook_prunes_a_run_it_keeps_and_a_resume_clears_the_mark(digits, tmp_path):
    from rich.console import Console

    from ltcli.config import TrainConfig
    from ltcli.config_file import config_values
    from ltcli.engine.story import Pruned
    from ltcli.engine.train import fit, resume_run
    from ltcli.run_folder import RunFolder

    told = []

    def stop_after_the_first(epoch, valid_stats):
        told.append((epoch, valid_stats["balanced_acc"]))
        raise Pruned("enough")

    given = config_values({**TRAIN, "data": str(digits), "lr": GOOD_LR, "logs_dir": str(tmp_path / "logs")}, "test")
    config = TrainConfig.create(**given)
    run = RunFolder(fit(config, Console(quiet=True), on_epoch=stop_after_the_first))
    valid = read_csv(run.log_path("valid"))
    assert told == [(0, pytest.approx(float(valid[0]["balanced_acc"])))] and len(valid) == 1
    assert run.read_pruned() == {"epochs_done": 1, "reason": "enough"}
    resume_run(run, Console(quiet=True))
    assert run.read_pruned() is None and len(read_csv(run.log_path("valid"))) == 2


BAD = {
    "unknown parameter": ({"parameters": {"lrr": {"low": 0.1, "high": 0.2}}}, "unknown parameter 'lrr' (did you mean"),
    "unknown objective option": ({"parameters": {"opt.tau": {"low": 0.5, "high": 2}}},
                                 "unknown parameter 'opt.tau': no objective of the search takes 'tau'"),
    "empty range": ({"parameters": {"lr": {"low": 0.1, "high": 0.1}}}, "the range 0.1..0.1 is empty"),
    "inverted range": ({"parameters": {"lr": {"low": 0.5, "high": 0.1}}}, "the range is inverted (low 0.5 > high 0.1)"),
    "choice not declared": ({"parameters": {"train_rule": {"choices": ["None", "Resampel"]}}},
                            "choice 'Resampel' is not one of the option's choices (did you mean 'Resample'?)"),
    "objective choice": ({"parameters": {"objective": {"choices": ["ERM", "NoSuch"]}}},
                         "choice 'NoSuch' is not one of the option's choices"),
    "budget 0": ({"budget": "0m", "parameters": {"lr": {"low": 0.01, "high": 0.1}}}, "budget must be above 0"),
    "budget without unit": ({"budget": 30, "parameters": {"lr": {"low": 0.01, "high": 0.1}}},
                            "budget takes a duration such as 30m"),
    "grid of a range": ({"sampler": "grid", "parameters": {"lr": {"low": 0.01, "high": 0.1}}},
                        "sampler grid needs choices for every parameter; 'lr' is a range"),
    "a value no run takes": ({"parameters": {"momentum": {"low": 0.5, "high": 1.0}}}, "--momentum must be in [0, 1)"),
    "unknown metric": ({"metric": "accuracy", "parameters": {"lr": {"low": 0.01, "high": 0.1}}},
                       "unknown --select-metric 'accuracy'"),
    "not searchable": ({"parameters": {"dataset": {"choices": ["a", "b"]}}}, "'dataset' cannot be searched"),
    "int range": ({"parameters": {"epochs": {"low": 1.5, "high": 3}}}, "takes whole numbers"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_search_section_is_one_line(case, cli, tmp_path):
    section, message = BAD[case]
    study = write_study(tmp_path / "b.yaml", tmp_path, search={"trials": 2, **section})
    result = cli("study", study, ok=False)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()  # refused before anything is written


@pytest.mark.parametrize(("url", "message"), [
    ("nosuchdialect://x/y", "cannot open the search storage nosuchdialect://x/y:"),
    ("sqlite:////no/such/folder/s.db", "cannot open the search storage sqlite:////no/such/folder/s.db: "),
    ("postgresql://user:secret@127.0.0.1:1/db", "cannot open the search storage postgresql://user:***@127.0.0.1:1/db"),
    ("journal:/no/such/folder/s.log", "cannot open the search storage journal:/no/such/folder/s.log: no folder"),
])
def test_a_storage_that_cannot_be_opened_is_one_line(url, message, cli, tmp_path):
    study = write_study(tmp_path / "b.yaml", tmp_path, search={"trials": 2, "parameters": {"lr": {"choices": [0.1]}}})
    result = cli("study", study, "--storage", url, ok=False)
    assert result.exit_code == 1 and message in result.output and "secret" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("change", "differ"), [
    ({"search": {"trials": 2, "parameters": {"lr": {"low": 0.01, "high": 0.5}}}}, "parameters differ"),
    ({"search": {"trials": 2, "metric": "acc", "parameters": {"lr": {"low": 0.01, "high": 0.2}}}}, "metric differ"),
    ({"epochs": 5}, "train differ"),
])
def test_a_changed_search_space_is_refused_naming_what_changed(change, differ, cli, tmp_path):
    search = {"trials": 2, "parameters": {"lr": {"low": 0.01, "high": 0.2}}}
    study = write_study(tmp_path / "c.yaml", tmp_path, name="c", search=search)
    open_search(read_study(study), f"sqlite:///{tmp_path / 'c.db'}")  # its first run made the study
    same = open_search(read_study(study), f"sqlite:///{tmp_path / 'c.db'}")  # the same file: accepted
    assert same.user_attrs["ltcli_space"]
    write_study(study, tmp_path, name="c", search=change.get("search", search),
                **{k: v for k, v in change.items() if k != "search"})
    result = cli("study", study, "--storage", f"sqlite:///{tmp_path / 'c.db'}", ok=False)
    assert result.exit_code == 1 and f"the search space changed since study 'c' last ran ({differ})" in result.output
    assert "give `name:` a new value to start a new study" in result.output
    assert len(result.output.strip().splitlines()) == 1


TINY_PRESET = ["--set", "model=resnet20", "--set", "epochs=1", "--set", "height=8", "--set", "width=8", "--set",
               "batchsize=32", "--set", "workers=0", "--set", "device=cpu", "--set", "augment=none", "--set", "hflip=0",
               "--set", "warmup=0"]


def test_the_methods_preset_runs_every_method_at_the_first_rate_first_and_stops_at_its_budget(cli, digits, tmp_path):
    from ltcli.study.methods import PRESET

    result = cli("study", "--methods", digits, "--budget", "1s", *TINY_PRESET)
    folder = tmp_path / "logs" / "studies" / "methods-split"
    study = read_study(folder / "study.yaml")
    preset = yaml.safe_load(PRESET.read_text())
    method = next(p for p in study.search.parameters if p.name == "method")
    assert list(method.choices) == list(preset["search"]["parameters"]["method"]["choices"])
    assert {row["objective"] for row in method.rows.values()} == {"ERM", "BSCE", "LA", "LDAM"}
    assert study.points[0].train["epochs"] == 1 and study.search.budget_s == 1.0
    rows = read_csv(folder / "results.csv")
    # The budget stops the search from starting trials once spent: the first trial always runs; on an idle
    # machine tiny trials may end within the second (all five at lr 0.1 did on a fast host), and the next
    # in the file's order starts then: every method at 0.1, then at 0.03, then at 0.3.
    order = [(method, lr) for lr in (0.1, 0.03, 0.3) for method in ("ERM", "RS", "BSCE", "LA", "LDAM-DRW")]
    done = len(rows)
    assert 1 <= done < len(order) and [(r["method"], float(r["lr"])) for r in rows] == order[:done]
    # No trial started after the budget was spent; results.csv rounds each trial's seconds to 0.1 (0.05 each way)
    assert sum(float(r["seconds"]) for r in rows[:-1]) < 1.0 + 0.05 * len(rows[:-1])
    assert all(r["state"] == "complete" for r in rows)
    best = next(r for r in rows if r["best"] == "True")
    assert (tmp_path / best["run"] / "metrics.json").is_file()  # the winner is tested
    table = (folder / "table.md").read_text()
    # The ranking's own table: its header and a row per method (importances may follow once two trials end).
    ranking = table[table.index("Each method by its best trial"):].split("\n\n")[1].splitlines()
    assert ranking[2].startswith(f"| 1 | {best['method']} | ") and len([r for r in ranking if r.startswith("| ")]) == 6
    from ltcli.study.search_results import MIN_TRIALS_FOR_IMPORTANCE
    assert done >= MIN_TRIALS_FOR_IMPORTANCE or "Parameter importances" not in table
    waiting = [t.system_attrs["fixed_params"] for t in stored_trials(tmp_path, "methods-split", folder / "study.yaml")
               if t.state.name == "WAITING"]  # enqueued, in the file's order
    queued = [(params["lr"], params["method"]) for params in waiting]
    assert queued[:len(order) - done] == [(lr, method) for method, lr in order[done:]] and len(queued) == 15 - done
    assert "study file:" in result.output


def test_a_study_file_and_methods_together_are_refused(cli, tmp_path):
    result = cli("study", tmp_path / "x.yaml", "--methods", "digits", ok=False)
    assert result.exit_code == 1 and "give a study FILE or --methods DATASET (one of them)" in result.output
