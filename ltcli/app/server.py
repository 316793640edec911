"""The page: five tabs over one AppContext, and how it is served (localhost unless told otherwise,
never a public share link)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from ltcli.app.catalog import dataset_choices, run_choices
from ltcli.app.context import DEFAULT_MAX_UPLOAD_MB, SCRATCH_FIGURES, SCRATCH_PREFIX, AppContext
from ltcli.app.jobs import JobQueue
from ltcli.app.paths import AppRoot
from ltcli.app.tabs.compare import CompareTab
from ltcli.app.tabs.data import DataTab
from ltcli.app.tabs.infer import InferTab
from ltcli.app.tabs.runs import RunsTab
from ltcli.app.tabs.train import TrainTab, start_choices

TITLE = "ltcli: long-tailed image classification"


def make_context(root: str | Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, parallel: int = 1,
                 device: str = "auto") -> AppContext:
    """The root, a job queue whose worker processes run in it, and a scratch folder for figures
    (removed by `AppContext.close`)."""
    app_root = AppRoot.at(root)
    max_upload_bytes = int(max_upload_mb * 2**20)  # before the scratch folder: an error here leaves nothing behind
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        jobs = JobQueue(app_root.path, scratch / "jobs", parallel=parallel)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return AppContext(app_root, jobs, scratch / SCRATCH_FIGURES, max_upload_bytes, device)


def build_app(context: AppContext) -> gr.Blocks:
    """The Blocks of the page. Named endpoints (api_name): train, stop, jobs, infer, compare, tune,
    runs, test, resume, stats; docs/app.md documents their inputs and outputs."""
    train, infer, compare, runs, data = (TrainTab(context), InferTab(context), CompareTab(context),
                                         RunsTab(context), DataTab(context))
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"## {TITLE}\nroot: `{context.root.path}`", elem_id="ltcli-header")
        with gr.Tabs(elem_id="ltcli-tabs"):
            with gr.Tab("Train", id="train") as train_tab:
                train.build()
            with gr.Tab("Infer", id="infer") as infer_tab:
                infer.build()
            with gr.Tab("Compare", id="compare") as compare_tab:
                compare.build()
            with gr.Tab("Runs", id="runs") as runs_tab:
                runs.build()
            with gr.Tab("Data", id="data") as data_tab:
                data.build()

        # New runs and datasets appear in the pickers whenever a tab is opened.
        root = context.root
        refreshed = ((infer_tab, infer.runs, lambda: run_choices(root)),
                     (compare_tab, compare.runs, lambda: run_choices(root, tested=True)),
                     (compare_tab, compare.tune_run, lambda: run_choices(root)),
                     (data_tab, data.dataset, lambda: dataset_choices(root)),
                     (train_tab, train.dataset, lambda: dataset_choices(root)),
                     (train_tab, train.start_from, lambda: start_choices(root)))
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        for tab, picker, choices in refreshed:
            tab.select(lambda current, choices=choices: gr.Dropdown(choices=choices()), picker, picker, **private)
        runs_tab.select(runs.runs, None, runs.listing, **private)
    return demo


def serve(context: AppContext, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          block: bool = True, quiet: bool = False) -> gr.Blocks:
    """Launch the page; with `block=False` return at once (tests, scripts), the server running."""
    demo = build_app(context)
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name=host, server_port=port, auth=auth, share=False, prevent_thread_lock=not block,
                max_file_size=context.max_upload_bytes, allowed_paths=[str(context.scratch)], quiet=quiet,
                show_error=True, inbrowser=False)
    return demo
