"""Two "nodes" on this machine: two torchrun launches (--nnodes 2, 2 processes each, c10d rendezvous on
127.0.0.1, gloo) training on a list dataset train what one 4-process torchrun trains, epoch by epoch.
Both launches run in one folder, as machines sharing a file system would: the lists, the images and the
run folder are read by every rank, and only global rank 0 writes the run."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_lists import make_lists

ARGS = ["train", "--data", "lists", "--model", "test_efficientnet_gn", "--objective", "ERM", "--epochs", "2",
        "--batchsize", "8", "--lrstep", "2", "--warmup", "0", "--height", "16", "--width", "16", "--augment", "none",
        "--hflip", "0", "--workers", "0", "--device", "cpu", "--lr", "0.01", "--weight-decay", "0"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
            "COLUMNS": "400"}


def torchrun(*options: str, processes: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *options, "--nproc-per-node", str(processes)]


def epoch_rows(logs: Path, split: str) -> list[dict]:
    (run,) = list((logs / "test_efficientnet_gn" / "lists" / "ERM").iterdir())
    with open(run / f"{split}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_two_nodes_of_two_processes_train_what_one_node_of_four_trains(tmp_path):
    (tmp_path / "lists").mkdir()
    make_lists(tmp_path / "lists")
    env = environment()
    single = subprocess.run(
        [*torchrun("--standalone", processes=4), "-m", "ltcli", *ARGS, "--logs-dir", "single"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stdout + single.stderr

    port = free_port()
    nodes = []
    for node in (0, 1):
        rendezvous = ["--nnodes", "2", "--node-rank", str(node), "--rdzv-backend", "c10d",
                      "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "ltcli-two-nodes",
                      "--rdzv-conf", f"is_host={'true' if node == 0 else 'false'}"]
        nodes.append(subprocess.Popen([*torchrun(*rendezvous), "-m", "ltcli", *ARGS, "--logs-dir", "nodes"],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [process.communicate(timeout=600)[0] for process in nodes]
    assert [process.returncode for process in nodes] == [0, 0], "\n".join(outputs)
    assert sum(output.count("done: best") for output in outputs) == 1  # global rank 0 alone prints and writes
    assert "4 processes (gloo)" in "".join(outputs)

    runs = list((tmp_path / "nodes").rglob("config.json"))
    assert len(runs) == 1  # one run folder, claimed by rank 0, on the "shared" file system
    config = json.loads(runs[0].read_text())
    assert config["world_size"] == 4 and config["data_lists"]["train"]["file"] == "Toy_LT_train.txt"
    for split in ("train", "valid"):
        one, two = epoch_rows(tmp_path / "single", split), epoch_rows(tmp_path / "nodes", split)
        assert [row["epoch"] for row in two] == ["0", "1"]
        for row_one, row_two in zip(one, two, strict=True):
            for key in row_one:
                if key not in ("epoch", "time_s"):
                    assert float(row_two[key]) == pytest.approx(float(row_one[key]), rel=1e-4, abs=1e-5), (split, key)
