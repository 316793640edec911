"""The README is a front page whose links lead somewhere, and docs/modules.md is the one module map,
kept current: every module of ltcli/ has its row and every row names a module that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_ROW = re.compile(r"^\| `([\w/]+\.py)` \|", re.MULTILINE)


def test_the_readme_is_a_front_page_whose_relative_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 400
    links = [target for target in re.findall(r"\]\(([^)]+)\)", text) if "://" not in target]
    assert links, "the README links its docs pages"
    missing = [target for target in links if not (ROOT / target.split("#")[0]).exists()]
    assert not missing


def test_the_readmes_two_commands_install_with_the_demo_and_run_the_tests():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ['pip install -e ".[dev]" && ./run.sh', "python -m pytest -q"]
    assert (ROOT / "run.sh").stat().st_mode & 0o111


def test_the_module_map_lists_every_module_and_only_modules():
    listed = MODULE_ROW.findall((ROOT / "docs" / "modules.md").read_text(encoding="utf-8"))
    modules = sorted(str(p.relative_to(ROOT / "ltcli")) for p in (ROOT / "ltcli").rglob("*.py"))
    assert sorted(set(listed)) == modules
    assert len(listed) == len(set(listed)), "a module listed twice"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_each_docs_page_has_one_title(page):
    lines = (ROOT / "docs" / page).read_text(encoding="utf-8").splitlines()
    in_code = False
    titles = []
    for line in lines:
        in_code ^= line.startswith("```")
        if not in_code and line.startswith("# "):
            titles.append(line)
    assert len(titles) == 1 and lines[0] == titles[0]
