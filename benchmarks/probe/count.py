"""Count the hostile probe's cases by kind (tests/test_hostile_probe.py, issue 31): how many held (a
one-line error, or the right behaviour) and how many did not.

    python benchmarks/probe/count.py            # runs the probe (about half a minute on 2 CPUs)
    python benchmarks/probe/count.py --quick    # the same: every case is quick already

Each case's id (or test name) starts with its kind; the table goes to stdout as markdown.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("data-loss", "app-path", "huge", "non-finite", "missing-tool", "same-content", "fraction", "copied-ckpt",
         "collision", "help")
RESULT = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)")


def kind_of(node: str) -> str:
    """The kind a case's id or test name starts with (`test_missing_tool_...` is missing-tool)."""
    name = node.split("::")[-1]
    label = name[name.index("[") + 1:] if "[" in name else name.removeprefix("test_").replace("_", "-")
    label = label.replace("copied-checkpoint", "copied-ckpt")
    return next((kind for kind in KINDS if label.startswith(kind)), "other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted for the benchmarks' convention")
    parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           "tests/test_hostile_probe.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    held, failed = Counter(), Counter()
    for line in done.stdout.splitlines():
        match = RESULT.match(line)
        if match:
            (held if match.group(1) == "PASSED" else failed)[kind_of(match.group(2))] += 1
    print("| kind | cases | held (one-line error or right behaviour) | did not |")
    print("|---|---|---|---|")
    for kind in sorted(set(held) | set(failed)):
        print(f"| {kind} | {held[kind] + failed[kind]} | {held[kind]} | {failed[kind]} |")
    print(f"| all | {sum(held.values()) + sum(failed.values())} | {sum(held.values())} | {sum(failed.values())} |")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
