"""The Compare tab: two or more tested runs side by side (per-class recall ordered by training
count, the headline metrics, each confusion matrix), optionally with their temperature ensemble;
"tune this run with objective X for N epochs", queued like any training; and a study's table
(tabs.studies)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ltcli import workflows
from ltcli.app.catalog import run_choices
from ltcli.app.tabs.common import ensemble_request, run_folder, run_folders, whole, whole_box
from ltcli.app.tabs.results import dataset_root, headline_row, read_tested
from ltcli.app.tabs.studies import StudyTable
from ltcli.app.ui import Tab, page_errors, table
from ltcli.config import TrainConfig
from ltcli.errors import LtcliError
from ltcli.metrics import HEADLINE_KEYS
from ltcli.objectives import list_objectives
from ltcli.run_folder import ResultsFolder
from ltcli.settings import choices_of

COMPARE_COLUMNS = ("run", *HEADLINE_KEYS)


class CompareTab(Tab):
    @page_errors
    def compare(self, runs: list[str], split: str = "test", temperatures: str = "") -> tuple[Any, str, list, str]:
        """Compare tested runs (root-relative run folders) on `split`: returns (the headline metrics
        table, a per-class recall figure, the confusion matrices, a note). With `temperatures`
        (one per run, e.g. "1,2"), their temperature ensemble is tested too and joins the comparison."""
        from ltcli.plots import plot_recall_comparison

        root = self.context.root
        chosen = run_folders(root, runs, at_least=2)
        folders: list[tuple[str, ResultsFolder]] = [(f"{i.objective} {i.stamp}", i) for i in chosen]
        note = f"{len(chosen)} runs on {split}"
        if temperatures and temperatures.strip():
            ensemble = self._ensemble(chosen, split, temperatures.strip())
            folders.append((f"ensemble t={temperatures.strip()}", ensemble))
            note += f"; their temperature ensemble was tested into {root.relative(ensemble.path)}"
        metrics = {label: read_tested(folder, split, label) for label, folder in folders}
        per_class = {label: folder.read_per_class(split) for label, folder in folders}
        (first, (names, counts, _)), *others = per_class.items()
        for label, (other_names, _, _) in others:
            if other_names != names:
                raise LtcliError(f"{label} was tested on other classes than {first}: cannot compare per class")
        figure = self.context.figure_path("per-class-recall")
        plot_recall_comparison(names, counts, [(label, recalls) for label, (_, _, recalls) in per_class.items()],
                               figure, title=f"per-class recall on {split}")
        copies = [(self.context.copy_figure(folder.results_files(split, False)["confusion"]), label)
                  for label, folder in folders]
        confusions = [(copied, label) for copied, label in copies if copied]
        rows = [headline_row(label, values) for label, values in metrics.items()]
        return table(rows, COMPARE_COLUMNS), str(figure), confusions, note

    def _ensemble(self, chosen: list, split: str, temperatures: str) -> ResultsFolder:
        from ltcli.posthoc import PosthocPlan

        plan = PosthocPlan.from_options(temperatures=temperatures, num_runs=len(chosen), split=split)
        data = dataset_root(self.context, chosen[0])
        result = workflows.run_test(chosen, split, data, self.context.device, plan=plan,
                                    logs_dir=self.context.root.logs)
        return ResultsFolder(result.out_dir).corrected(plan.results_tag)

    @page_errors
    def tune(self, run: str, objective: str = "GML", epochs: float = 10, freeze: str = "none",
             ensemble: str = "") -> dict[str, Any]:
        """Queue "tune this run with `objective` for `epochs` epochs" (`ltcli.workflows.tune_options`):
        a new run that starts from the run's best checkpoint (cosine schedule, no warmup), with the
        run's data and input settings; `freeze` as train's --freeze (backbone: the classifier alone);
        `ensemble` "t1,t2": then test the tuned run averaged with this one, as the Train tab's."""
        root = self.context.root
        folder = run_folder(root, run)
        given = workflows.tune_options(folder, objective, whole(epochs, "epochs"), start=root.relative(folder.path),
                                      freeze=(freeze or "none").strip())
        then = ensemble_request(root, given, ensemble)
        return self.context.jobs.submit({"config": given, **then}, f"tune {folder.stamp} with {objective}")

    def build(self) -> None:
        gr.Markdown("Pick two or more tested runs (test a run in the Runs tab). Optionally average them with one "
                    "temperature per run (softmax(z / t)), e.g. a tuned copy and its original with 1,2.")
        with gr.Row():
            choices = run_choices(self.context.root, tested=True)
            runs = gr.Dropdown(choices, value=[c[1] for c in choices[:2]], multiselect=True, label="runs",
                               elem_id="compare-runs", allow_custom_value=True)
            split = gr.Radio(["test", "valid"], value="test", label="split")
            temperatures = gr.Textbox("", label="temperatures (optional)", placeholder="1,2")
            button = gr.Button("Compare", variant="primary", elem_id="compare-button")
        note = gr.Markdown()
        metrics = gr.Dataframe(table([], COMPARE_COLUMNS), label="headline metrics", interactive=False)
        recall = gr.Image(label="per-class recall, classes from the most to the fewest training images",
                          type="filepath", elem_id="compare-recall")
        confusion = gr.Gallery(label="confusion matrices", columns=1, height="auto", object_fit="contain")
        button.click(self.compare, [runs, split, temperatures], [metrics, recall, confusion, note],
                     api_name="compare")
        with gr.Accordion("tune a run with another objective", open=False):
            with gr.Row():
                tune_run = gr.Dropdown(run_choices(self.context.root), label="run to tune", allow_custom_value=True)
                tune_objective = gr.Dropdown(list_objectives(), value="GML", label="objective",
                                             allow_custom_value=True)
                tune_epochs = whole_box(10, "epochs")
                tune_freeze = gr.Dropdown(list(choices_of(TrainConfig, "freeze")), value="none", label="freeze")
                tune_ensemble = gr.Textbox("", label="then ensemble (t1,t2)", placeholder="1,2")
                tune_button = gr.Button("Queue the tuning")
            tuned = gr.JSON(label="queued")
        tune_button.click(self.tune, [tune_run, tune_objective, tune_epochs, tune_freeze, tune_ensemble], tuned,
                          api_name="tune")
        StudyTable(self.context).build()
        self.runs, self.tune_run = runs, tune_run
