"""The Runs tab: the `ltcli runs` table (sortable), each row opening its curves and test results;
test a run (`ltcli test`) or resume an interrupted one from here."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ltcli import workflows
from ltcli.app.catalog import RUN_COLUMNS, curve_frame, curve_rows, run_rows, run_summaries
from ltcli.app.tabs.common import run_folder
from ltcli.app.tabs.results import dataset_root, headline_row
from ltcli.app.ui import Tab, page_errors, table
from ltcli.errors import LtcliError
from ltcli.metrics import HEADLINE_KEYS


class RunsTab(Tab):
    @page_errors
    def runs(self, dataset: str = "") -> Any:
        """The runs under logs/ (newest first; `dataset` filters): stamp, model, dataset, objective,
        name, epochs done, state (training, interrupted, finished, tested), best validation value,
        test acc / balanced acc / few-shot acc, and the run folder."""
        summaries = run_summaries(self.context.root, (dataset or "").strip() or None)
        return table(run_rows(summaries, self.context.running_runs()), RUN_COLUMNS)

    @page_errors
    def details(self, run: str) -> tuple[Any, Any, str | None, str | None, str]:
        """One run's curves, headline test metrics and its own figures."""
        folder = run_folder(self.context.root, run)
        metrics = folder.read_metrics("test")
        rows = [headline_row(folder.stamp, metrics)] if metrics else []
        figures = folder.results_files("test", False)
        recall, confusion = (self.context.copy_figure(figures[key]) for key in ("recall", "confusion"))
        note = f"**{run}**" + ("" if metrics else " — not tested yet")
        return curve_frame(curve_rows(folder)), table(rows, ("run", *HEADLINE_KEYS)), recall, confusion, note

    @page_errors
    def test(self, run: str, split: str = "test") -> dict[str, Any]:
        """`ltcli test` on the run (results written into its folder); returns its headline metrics."""
        folder = run_folder(self.context.root, run)
        metrics = workflows.run_test([folder], split, dataset_root(self.context, folder), self.context.device).metrics
        return {k: metrics.get(k) for k in ("label", "split", *HEADLINE_KEYS)}

    @page_errors
    def resume(self, run: str) -> dict[str, Any]:
        """Queue the continuation of an interrupted run (`ltcli train --resume`)."""
        folder = run_folder(self.context.root, run)
        if run in self.context.running_runs():
            raise LtcliError(f"{run} is training now")
        workflows.check_resumable(folder)  # refused before it is queued: no checkpoint_last.pt, or all epochs done
        return self.context.jobs.submit({"resume": self.context.root.relative(folder.path)}, f"resume {folder.stamp}")

    def build(self) -> None:
        with gr.Row():
            dataset = gr.Textbox("", label="dataset filter", placeholder="all datasets")
            refresh = gr.Button("Refresh", elem_id="runs-refresh")
        listing = gr.Dataframe(self.runs(""), label="runs (click a row to open it; click a header to sort)",
                               interactive=False, wrap=True, elem_id="runs-table")
        selected = gr.Textbox("", label="selected run", elem_id="runs-selected")
        with gr.Row():
            test_button = gr.Button("Test this run (ltcli test)")
            resume_button = gr.Button("Resume this run")
        outcome = gr.JSON(label="result")
        note = gr.Markdown()
        curves = gr.LinePlot(None, x="epoch", y="value", color="curve", y_lim=[0, 1], height=300,
                             title="curves")
        metrics = gr.Dataframe(table([], ("run", *HEADLINE_KEYS)), label="test metrics", interactive=False)
        with gr.Row():
            recall = gr.Image(label="per-class recall (test)", type="filepath")
            confusion = gr.Image(label="confusion matrix (test)", type="filepath")
        refresh.click(self.runs, dataset, listing, api_name="runs")
        dataset.submit(self.runs, dataset, listing, api_visibility="private")

        def pick(frame: Any, event: gr.SelectData) -> str:
            row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            return str(frame.iloc[row][RUN_COLUMNS[-1]])

        listing.select(pick, listing, selected, api_visibility="private").success(
            self.details, selected, [curves, metrics, recall, confusion, note], api_visibility="private")
        test_button.click(self.test, selected, outcome, api_name="test").success(
            self.details, selected, [curves, metrics, recall, confusion, note], api_visibility="private")
        resume_button.click(self.resume, selected, outcome, api_name="resume")
        self.listing = listing
