"""A study's table, in the Compare tab: the studies under logs/studies/ (a grid's points or a
search's trials, `ltcli study`), results.csv as a sortable table and table.md (the ranking, the best
trial's test metrics, the importances) beside it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ltcli.app.paths import LOGS_AREA, AppRoot
from ltcli.app.ui import Tab, page_errors, table
from ltcli.errors import LtcliError
from ltcli.run_folder import read_csv_rows

STUDIES = "studies"  # LOGS/studies/NAME: ltcli.study.spec.Study.folder
RESULTS, TABLE = "results.csv", "table.md"


def study_names(root: AppRoot) -> list[str]:
    """The studies that have written their results, by name."""
    folder = root.logs / STUDIES
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / RESULTS).is_file() and not p.name.startswith("."))


class StudyTable(Tab):
    @page_errors
    def study(self, name: str) -> tuple[Any, str]:
        """A study's results.csv as a table, and its table.md."""
        root = self.context.root
        name = root.check_name(name, "study", f"{LOGS_AREA}/{STUDIES}")
        folder = root.confine(f"{LOGS_AREA}/{STUDIES}/{name}", (LOGS_AREA,), "study")
        if not (folder / RESULTS).is_file():
            raise LtcliError(f"study {name!r} has no {RESULTS} yet: run `ltcli study FILE` (or --methods DATASET)")
        rows = read_csv_rows(folder / RESULTS)
        columns = list(rows[0]) if rows else []
        summary = (folder / TABLE).read_text(encoding="utf-8") if (folder / TABLE).is_file() else ""
        return table([[row[c] for c in columns] for row in rows], columns), summary

    def build(self) -> None:
        with gr.Accordion("a study's table (ltcli study: a grid, or a search's trials)", open=False):
            with gr.Row():
                names = study_names(self.context.root)
                name = gr.Dropdown(names, value=names[0] if names else None, label="study", allow_custom_value=True,
                                   elem_id="study-name")
                button = gr.Button("Show the study", elem_id="study-button")
            summary = gr.Markdown()
            frame = gr.Dataframe(table([], ()), label="results.csv", interactive=False, wrap=True)
        button.click(self.study, name, [frame, summary], api_name="study")
