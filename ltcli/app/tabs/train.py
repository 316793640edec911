"""The Train tab: a form that builds a TrainConfig (checked on the spot; each input generated from its
field's declaration, ltcli.app.declared_form), a queue of jobs run in worker processes, and the
watched run's curves and progress, polled from its CSV logs."""

from __future__ import annotations

import inspect
from typing import Any

import gradio as gr

from ltcli.app.catalog import curve_frame, curve_rows, dataset_choices, run_choices, weights_choices
from ltcli.app.datasets import list_image_root, training_dataset
from ltcli.app.declared_form import (
    FORM_INPUTS,
    form_component,
    form_values,
    more_components,
    more_parameters,
    page_values,
)
from ltcli.app.tabs.common import class2id_names, ensemble_request, run_folder, start_point, whole, whole_box
from ltcli.app.ui import Tab, page_errors, table
from ltcli.config import DEFAULT, TrainConfig
from ltcli.data.make import SplitOptions
from ltcli.errors import LtcliError
from ltcli.models import list_models
from ltcli.run_folder import RunFolder
from ltcli.runs import summarize_run

JOB_COLUMNS = ("job", "state", "label", "run", "message")
# The main form's layout, the one thing here by hand: rows of /train inputs. Every input but the two
# pickers (dataset, start from) and the ensemble box (no train option) is generated from its field's
# declaration (declared_form.FORM_INPUTS).
FORM_ROWS = (
    ("dataset", "imbalance_factor", "profile", "data_root"), ("model", "objective", "train_rule", "name"),
    ("epochs", "batch_size", "workers", "lr", "momentum", "weight_decay"),
    ("seed", "warmup", "sched", "lrstep", "height", "width", "hflip"), ("start_from", "freeze", "head", "ensemble"),
)


def ensemble_box() -> Any:
    return gr.Textbox("", label="then ensemble with the start run (t1,t2)", placeholder="1,2",
                      info="test the new run averaged with the run it starts from: softmax(z_new / t1) and "
                      "softmax(z_start / t2) (tune, then ensemble)")


def progress_html(job: dict[str, Any] | None, summary: dict[str, Any] | None) -> str:
    """A progress bar over the run's epochs (from its valid.csv, as `ltcli runs` counts them)."""
    if job is None:
        return "<p>no training yet</p>"
    done = (summary or {}).get("epochs_done") or 0
    total = (summary or {}).get("epochs") or 0
    where = f" — {job['run']}" if job.get("run") else ""
    queued = f" ({job['ahead']} ahead)" if job.get("ahead") is not None else ""
    return (f"<div id='ltcli-progress'><progress max='{max(total, 1)}' value='{done}' style='width:100%'></progress>"
            f"<p>job {job['job']}: {job['state']}{queued}, epoch {done}/{total or '?'}{where}</p>"
            f"<p>{job['message']}</p></div>")


class TrainTab(Tab):
    @page_errors
    def train(self, dataset: str, imbalance_factor: float | None = None, profile: str | None = None,
              model: str = DEFAULT.model, objective: str = DEFAULT.objective, train_rule: str = DEFAULT.train_rule,
              epochs: float = DEFAULT.epochs, batch_size: float = DEFAULT.batch_size,
              workers: float = DEFAULT.workers, lr: float = DEFAULT.lr, momentum: float = DEFAULT.momentum,
              weight_decay: float = DEFAULT.weight_decay, seed: float = DEFAULT.seed,
              warmup: float | str | None = None, sched: str | None = None, lrstep: str | None = None,
              height: float = DEFAULT.height, width: float = DEFAULT.width, hflip: float = DEFAULT.hflip,
              start_from: str = "", freeze: str = DEFAULT.freeze, name: str = "",
              head: str = DEFAULT.head, data_root: str = "", ensemble: str = "",
              more: dict | None = None) -> dict[str, Any]:
        """Check the settings (TrainConfig), split a raw dataset if one was picked, and queue the
        training; returns the job (its id, state, and how many jobs are ahead of it). Every input
        but `dataset` and `start_from` is read as its declared field (FORM_INPUTS; empty: the
        default, as an option left out); `data_root`: a list dataset's image root under the app's
        root; `ensemble`: "t1,t2", then test the new run averaged with the run it starts from,
        softmax(z_new / t1) and softmax(z_start / t2) (the course app's tune-then-ensemble); `more`: the
        "more settings" (TrainConfig field name -> value, ltcli.app.declared_form)."""
        inputs = form_values({key: value for key, value in locals().items() if key in FORM_INPUTS})
        root, given, split = self.context.root, inputs[TrainConfig], inputs[SplitOptions]
        image_root = given.pop("data_root", None)
        given.update(start_point(root, start_from), **page_values(more))
        if "positive_classes" in given:
            given["positive_classes"] = class2id_names(root, given["positive_classes"])
        model = given.get("model", DEFAULT.model)
        if model not in list_models(model):
            raise LtcliError(f"unknown model {model!r}: any timm name (see `ltcli models PATTERN`)")
        # Check every value before anything is written (the split, the job): same errors as the CLI's.
        TrainConfig.create(dataset="-", **given)
        then = ensemble_request(root, given, ensemble)
        images = list_image_root(root, dataset, image_root)
        if images is not None:
            given["data_root"] = images  # root-relative, as the worker runs in the root; config.json resolves it
        dataset_name, how = training_dataset(root, dataset, split.get("imbalance_factor"), split.get("profile"),
                                             given.get("seed", DEFAULT.seed))
        given["dataset"] = dataset_name
        config = TrainConfig.create(**given)
        job = self.context.jobs.submit({"config": given, **then}, f"{config.name or model} / {config.objective} on "
                                       f"{dataset_name}")
        job["message"] = how
        return job

    @page_errors
    def stop(self, job: float) -> str:
        """Stop a job: a queued one is cancelled, a running one stops at the next batch boundary."""
        return self.context.jobs.stop(whole(job, "job"))

    def jobs(self) -> list[dict[str, Any]]:
        """Every job of this app session, oldest first."""
        return [{**job, "message": self.context.public(job["message"])} for job in self.context.jobs.jobs()]

    def watch(self, job_id: float | None) -> tuple[Any, str, Any]:
        """The timer's poll: the jobs table, the watched job's progress and curves (the given job,
        else the running one, else the latest)."""
        jobs = self.jobs()
        rows = [[j["job"], j["state"] + (f" ({j['ahead']} ahead)" if j.get("ahead") is not None else ""),
                 j["label"], j["run"] or "", j["message"]] for j in reversed(jobs)]
        given = [j for j in jobs if job_id not in (None, "") and j["job"] == int(job_id)]
        chosen = (given or [j for j in jobs if j["state"] == "running"] or jobs[-1:] or [None])[0]
        summary, curves = None, []
        if chosen is not None and chosen.get("run"):
            try:
                run = run_folder(self.context.root, chosen["run"])
                summary, curves = summarize_run(run), curve_rows(RunFolder(run.path))
            except LtcliError:
                pass
        return table(rows, JOB_COLUMNS), progress_html(chosen, summary), curve_frame(curves)

    def submit_handler(self, names: list[str]) -> Any:
        """The Train button's handler: the form's values, then the generated ones gathered into `more`.
        Its signature (train's parameters, then one per generated field) names the /train API's inputs."""
        own = [p for p in inspect.signature(self.train).parameters.values() if p.name != "more"]

        def submit(*values: Any) -> dict[str, Any]:
            return self.train(*values[:len(own)], more=dict(zip(names, values[len(own):], strict=True)))

        submit.__signature__ = inspect.Signature([*own, *more_parameters()])  # type: ignore[attr-defined]
        return submit

    def build(self) -> None:
        gr.Markdown("Train a model on a dataset under the root. The run is an ordinary run folder under `logs/`: "
                    "`ltcli runs`, `test` and `plot` see it. One training runs at a time; others wait in the queue.")
        pickers = {"dataset": self.dataset_picker, "start_from": self.start_picker, "ensemble": ensemble_box}
        form: dict[str, Any] = {}
        for row in FORM_ROWS:
            with gr.Row():
                for name in row:
                    form[name] = pickers[name]() if name in pickers else form_component(name)
        with gr.Accordion("more settings", open=False):
            gr.Markdown("Every other `ltcli train` option, generated from its declaration (same help, choices and "
                        "default); empty boxes keep the default.")
            more = more_components()
        with gr.Row():
            submit = gr.Button("Train", variant="primary", elem_id="train-button")
            job_id = whole_box(None, "job to watch / stop")
            stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
        submitted = gr.JSON(label="submitted")
        stopped = gr.Markdown()
        progress = gr.HTML(progress_html(None, None))
        curves = gr.LinePlot(None, x="epoch", y="value", color="curve", y_lim=[0, 1],
                             title="accuracy and per-class recall (GM, HM, lowest) per epoch", height=320)
        jobs_table = gr.Dataframe(table([], JOB_COLUMNS), label="jobs", interactive=False, wrap=True)
        inputs = [form[name] for name in inspect.signature(self.train).parameters if name != "more"]
        submit.click(self.submit_handler(list(more)), inputs + list(more.values()), submitted,
                     api_name="train").success(
            lambda job: job["job"], submitted, job_id, api_visibility="private")
        stop.click(self.stop, job_id, stopped, api_name="stop")
        gr.Button("refresh jobs", visible=False).click(self.jobs, None, gr.JSON(visible=False), api_name="jobs")
        self.dataset, self.start_from, self.more, self.choosers = form["dataset"], form["start_from"], more, form
        timer = gr.Timer(1.0)
        timer.tick(self.watch, job_id, [jobs_table, progress, curves], api_visibility="private",
                   show_progress="hidden", concurrency_limit=None)

    def dataset_picker(self) -> Any:
        datasets = dataset_choices(self.context.root)
        return gr.Dropdown(datasets, value=datasets[0] if datasets else None, label="dataset",
                           info="a_datasets/NAME (split) or data_split/NAME (raw: split 70/15/15 on start, long-tailed "
                           "by the imbalance factor)", allow_custom_value=True, elem_id="train-dataset")

    def start_picker(self) -> Any:
        return gr.Dropdown(start_choices(self.context.root), value="", label="start from",
                           info="an earlier run (or pre-training run), or a weights .pt under the root "
                           "(e.g. models/pretrained/)", allow_custom_value=True, elem_id="train-start-from")


def start_choices(root: Any) -> list[tuple[str, str]]:
    """The 'start from' picker: scratch, every run (pre-training runs too), every weights file under models/."""
    return [("(scratch)", ""), *run_choices(root, pretraining=True), *weights_choices(root)]
