"""The Train tab: a form that builds a TrainConfig (checked on the spot; its pickers offer the choices
TrainConfig's fields declare), a queue of jobs run in worker processes, and the watched run's curves
and progress, polled from its CSV logs."""

from __future__ import annotations

import inspect
from typing import Any

import gradio as gr

from ltcli.app.catalog import curve_rows, dataset_choices, run_choices, weights_choices
from ltcli.app.context import AppContext
from ltcli.app.datasets import list_image_root, training_dataset
from ltcli.app.declared_form import more_components, more_parameters, page_values
from ltcli.app.tabs.common import class2id_names, ensemble_request, number, run_folder, start_point, whole, whole_box
from ltcli.app.ui import page_errors, table
from ltcli.config import DEFAULT, TrainConfig
from ltcli.data.longtail import PROFILES, resolve_imbalance_factor
from ltcli.errors import LtcliError
from ltcli.models import CIFAR_MODELS, list_models
from ltcli.run_folder import RunFolder
from ltcli.runs import summarize_run
from ltcli.settings import choices_of

JOB_COLUMNS = ("job", "state", "label", "run", "message")
COMMON_MODELS = (*CIFAR_MODELS, "resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "vit_small_patch16_224")


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


class TrainTab:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    @page_errors
    def train(self, dataset: str, imbalance_factor: float | None = None, profile: str = PROFILES[0],
              model: str = DEFAULT.model, objective: str = DEFAULT.objective, train_rule: str = DEFAULT.train_rule,
              epochs: float = DEFAULT.epochs, batch_size: float = DEFAULT.batch_size,
              workers: float = DEFAULT.workers, lr: float = DEFAULT.lr, momentum: float = DEFAULT.momentum,
              weight_decay: float = DEFAULT.weight_decay, seed: float = DEFAULT.seed,
              warmup: float | str | None = None, sched: str = "default", lrstep: str = "",
              height: float = DEFAULT.height, width: float = DEFAULT.width, hflip: float = DEFAULT.hflip,
              start_from: str = "", freeze: str = DEFAULT.freeze, name: str = "",
              head: str = DEFAULT.head, data_root: str = "", ensemble: str = "",
              more: dict | None = None) -> dict[str, Any]:
        """Check the settings (TrainConfig), split a raw dataset if one was picked, and queue the
        training; returns the job (its id, state, and how many jobs are ahead of it). `data_root`: a
        list dataset's image root under the app's root (empty: the lists' folder); `ensemble`: "t1,t2",
        then test the new run averaged with the run it starts from, softmax(z_new / t1) and
        softmax(z_start / t2) (the course app's tune-then-ensemble); `more`: the "more settings"
        (TrainConfig field name -> value; empty values left out, ltcli.app.declared_form)."""
        root = self.context.root
        extra = page_values(more)
        if "positive_classes" in extra:
            extra["positive_classes"] = class2id_names(root, extra["positive_classes"])
        model = (model or "").strip()
        if model not in list_models(model or "-"):
            raise LtcliError(f"unknown model {model!r}: any timm name (see `ltcli models PATTERN`)")
        # As `ltcli split --imbalance-factor` reads it: head / tail (100) or its inverse (0.01), the same split.
        factor = (resolve_imbalance_factor(number(imbalance_factor, "imbalance factor"))
                  if imbalance_factor not in (None, "", 0) else None)
        seed = whole(seed, "seed")
        lr_steps = [whole(v, "lr steps") for v in str(lrstep or "").split(",") if v.strip()] or None
        given: dict[str, Any] = dict(
            model=model, objective=objective, train_rule=train_rule, epochs=whole(epochs, "epochs"),
            batch_size=whole(batch_size, "batch size"), workers=whole(workers, "workers"), lr=number(lr, "lr"),
            momentum=number(momentum, "momentum"), weight_decay=number(weight_decay, "weight decay"), seed=seed,
            height=whole(height, "height"),
            width=whole(width, "width"), hflip=number(hflip, "hflip"), freeze=freeze, name=(name or "").strip(),
            head=head,
            **start_point(root, start_from),
        )
        # Left empty (or "default"), the schedule is the default for the epochs (as on the CLI: cosine,
        # or step at 200 epochs; the warmup and the stages scaled to the epochs).
        if sched and sched != "default":
            given["sched"] = sched
        if lr_steps is not None:
            given["lr_steps"] = lr_steps
        if warmup is not None and str(warmup).strip():
            given["warmup_epochs"] = whole(warmup, "warmup")
        given.update(extra)
        # Check every value before anything is written (the split, the job): same errors as the CLI's.
        TrainConfig.create(dataset="-", **given)
        then = ensemble_request(root, given, ensemble)
        images = list_image_root(root, dataset, data_root)
        if images is not None:
            given["data_root"] = images  # root-relative, as the worker runs in the root; config.json resolves it
        dataset_name, how = training_dataset(root, dataset, factor, profile, seed)
        given["dataset"] = dataset_name
        TrainConfig.create(**given)
        label = f"{given['name'] or model} / {objective} on {dataset_name}"
        job = self.context.jobs.submit({"config": given, **then}, label)
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
        chosen = None
        if job_id not in (None, "") and jobs:
            chosen = next((j for j in jobs if j["job"] == int(job_id)), None)
        chosen = chosen or next((j for j in jobs if j["state"] == "running"), None) or (jobs[-1] if jobs else None)
        summary, curves = None, []
        if chosen is not None and chosen.get("run"):
            try:
                run = run_folder(self.context.root, chosen["run"])
                summary, curves = summarize_run(run), curve_rows(RunFolder(run.path))
            except LtcliError:
                pass
        return table(rows, JOB_COLUMNS), progress_html(chosen, summary), curves_frame(curves)

    def submit_handler(self, names: list[str]) -> Any:
        """The Train button's handler: the form's values, then the generated ones gathered into `more`.
        Its signature (train's parameters, then one per generated field) names the /train API's inputs."""
        own = [p for p in inspect.signature(self.train).parameters.values() if p.name != "more"]

        def submit(*values: Any) -> dict[str, Any]:
            return self.train(*values[:len(own)], more=dict(zip(names, values[len(own):], strict=True)))

        submit.__signature__ = inspect.Signature([*own, *more_parameters()])  # type: ignore[attr-defined]
        return submit

    def build(self) -> None:
        root = self.context.root
        gr.Markdown("Train a model on a dataset under the root. The run is an ordinary run folder under `logs/`: "
                    "`ltcli runs`, `test` and `plot` see it. One training runs at a time; others wait in the queue.")
        with gr.Row():
            datasets = dataset_choices(root)
            dataset = gr.Dropdown(datasets, value=datasets[0] if datasets else None, label="dataset",
                                  info="a_datasets/NAME (split) or data_split/NAME (raw: split 70/15/15 on start)",
                                  allow_custom_value=True, elem_id="train-dataset")
            imbalance = gr.Number(None, label="imbalance factor (raw only)", minimum=0,
                                  info="head / tail (100) or tail / head (0.01), as `ltcli split` takes it")
            profile = gr.Radio(list(PROFILES), value=PROFILES[0], label="long-tail profile")
            data_root = gr.Textbox("", label="image root (lists only)", placeholder="empty: the lists' folder",
                                   info="where a list dataset's image paths start, e.g. data_split/ImageNet")
        with gr.Row():
            model = gr.Dropdown(list(COMMON_MODELS), value=DEFAULT.model, label="model", allow_custom_value=True,
                                info="any timm name")
            # Custom values: every name the CLI takes (aliases such as CE, any case) reaches TrainConfig's check.
            objective = gr.Dropdown(list(choices_of(TrainConfig, "objective")), value=DEFAULT.objective,
                                    label="objective", allow_custom_value=True,
                                    info="or another name `ltcli train` takes (CE, Focal)")
            train_rule = gr.Dropdown(list(choices_of(TrainConfig, "train_rule")), value=DEFAULT.train_rule,
                                     label="train rule", allow_custom_value=True)
            name = gr.Textbox("", label="experiment name", placeholder="kept in config.json, shown in the runs list")
        with gr.Row():
            epochs = whole_box(DEFAULT.epochs, "epochs")
            batch_size = whole_box(DEFAULT.batch_size, "batch size")
            workers = whole_box(DEFAULT.workers, "workers")
            lr = gr.Number(DEFAULT.lr, label="learning rate")
            momentum = gr.Number(DEFAULT.momentum, label="momentum")
            weight_decay = gr.Number(DEFAULT.weight_decay, label="weight decay")
        with gr.Row():
            seed = whole_box(DEFAULT.seed, "seed")
            warmup = gr.Textbox("", label="warmup epochs", placeholder="empty: scaled to the epochs")
            sched = gr.Radio(["default", *choices_of(TrainConfig, "sched")], value="default", label="schedule",
                             info="default: cosine to 0, or step 60,60,40,40 at 200 epochs or with lr steps")
            lrstep = gr.Textbox("", label="lr steps", placeholder="60,60,40,40 (epochs per stage; empty: scaled)")
            height = whole_box(DEFAULT.height, "height")
            width = whole_box(DEFAULT.width, "width")
            hflip = gr.Number(DEFAULT.hflip, label="flip probability")
        with gr.Row():
            start_from = gr.Dropdown(start_choices(root), value="", label="start from",
                                     info="an earlier run (or pre-training run), or a weights .pt under the root "
                                     "(e.g. models/pretrained/)", allow_custom_value=True)
            freeze = gr.Dropdown(list(choices_of(TrainConfig, "freeze")), value=DEFAULT.freeze, label="freeze",
                                 info="backbone+classifier trains an LWS head's scales: head lws")
            head = gr.Dropdown(list(choices_of(TrainConfig, "head")), value=DEFAULT.head, label="head")
            ensemble = gr.Textbox("", label="then ensemble with the start run (t1,t2)", placeholder="1,2",
                                  info="test the new run averaged with the run it starts from: softmax(z_new / t1) "
                                  "and softmax(z_start / t2) (tune, then ensemble)")
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
        curves = gr.LinePlot(curves_frame([]), x="epoch", y="value", color="curve", y_lim=[0, 1],
                             title="accuracy and per-class recall (GM, HM, lowest) per epoch", height=320)
        jobs_table = gr.Dataframe(table([], JOB_COLUMNS), label="jobs", interactive=False, wrap=True)
        inputs = [dataset, imbalance, profile, model, objective, train_rule, epochs, batch_size, workers, lr, momentum,
                  weight_decay, seed, warmup, sched, lrstep, height, width, hflip, start_from, freeze, name, head,
                  data_root, ensemble]
        submit.click(self.submit_handler(list(more)), inputs + list(more.values()), submitted,
                     api_name="train").success(
            lambda job: job["job"], submitted, job_id, api_visibility="private")
        stop.click(self.stop, job_id, stopped, api_name="stop")
        gr.Button("refresh jobs", visible=False).click(self.jobs, None, gr.JSON(visible=False), api_name="jobs")
        self.dataset, self.start_from, self.more = dataset, start_from, more
        self.choosers = {"imbalance": imbalance, "profile": profile, "objective": objective, "train_rule": train_rule,
                         "sched": sched, "freeze": freeze, "head": head, "start_from": start_from}
        timer = gr.Timer(1.0)
        timer.tick(self.watch, job_id, [jobs_table, progress, curves], api_visibility="private",
                   show_progress="hidden", concurrency_limit=None)


def start_choices(root: Any) -> list[tuple[str, str]]:
    """The 'start from' picker: scratch, every run (pre-training runs too), every weights file under models/."""
    return [("(scratch)", ""), *run_choices(root, pretraining=True), *weights_choices(root)]


def curves_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=["epoch", "value", "curve"])
