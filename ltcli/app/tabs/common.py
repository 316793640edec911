"""Values the tabs share: whole numbers from number boxes, the run a path names, the start point."""

from __future__ import annotations

from typing import Any

from ltcli.app.paths import AREAS, DATASETS_AREA, LOGS_AREA, RAW_AREA, WEIGHTS_AREA, AppRoot
from ltcli.errors import LtcliError
from ltcli.run_folder import RunFolder

MAX_RUNS = 16  # runs compared or averaged at once


def whole(value: Any, label: str) -> int:
    """A number box's value as an int (gradio sends floats); 2.5 epochs is an error, not 2."""
    try:
        if float(value).is_integer():
            return int(float(value))
    except (TypeError, ValueError):
        pass
    raise LtcliError(f"{label} takes a whole number, got {value!r}")


def whole_box(value: float | None, label: str, **options: Any) -> Any:
    """A number box for a whole number. It passes what was typed (no precision=0, which makes gradio
    round 1.5 to 2 before `whole` can refuse it, on the page and through the API alike)."""
    import gradio as gr

    return gr.Number(value, label=label, precision=None, step=1, **options)


def number(value: Any, label: str) -> float:
    """A number box's value as a float, or a one-line error naming the box (`number` means this in ltcli)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LtcliError(f"{label} takes a number, got {value!r}") from None


def run_folder(root: AppRoot, text: str) -> RunFolder:
    """The run folder a root-relative path names (under logs/), refused outside the root."""
    path = root.confine(text, (LOGS_AREA,), "run")
    if not RunFolder.holds_run(path):
        raise LtcliError(f"{str(text)[:80]} is not a run folder (no config.json)")
    root.confine_tree(path, text, "run")  # its checkpoints and logs are read: none may be a link out
    return RunFolder(path)


def run_folders(root: AppRoot, texts: list[str] | str | None, at_least: int = 1) -> list[RunFolder]:
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    texts = [t for t in texts if str(t).strip()]
    if len(texts) < at_least:
        raise LtcliError(f"pick at least {at_least} run{'s' if at_least > 1 else ''}")
    if len(texts) > MAX_RUNS:
        raise LtcliError(f"pick at most {MAX_RUNS} runs (each is loaded into memory), got {len(texts)}")
    return [run_folder(root, text) for text in texts]


def start_point(root: AppRoot, text: str | None) -> dict[str, str]:
    """TrainConfig's init_from (an earlier run) or weights (a .pt file) for the page's 'start from',
    both root-relative, so config.json records them as `ltcli train` run in the root would. A
    weights file may also lie under models/ (e.g. models/pretrained/resnet32.pt)."""
    text = (text or "").strip()
    if not text:
        return {}
    path = root.confine(text, (*AREAS, WEIGHTS_AREA), "start point")
    relative = root.relative(path)
    if RunFolder.holds_run(path):
        return {"init_from": relative}
    if path.is_file():
        return {"weights": relative}
    raise LtcliError(f"start from {text!r}: neither a run folder nor a weights file")


def ensemble_request(root: AppRoot, given: dict[str, Any], temperatures: str | None) -> dict[str, Any]:
    """The job's "then average the new run with the run it starts from at t1,t2" part (the course app's
    tune-then-ensemble), checked now, before anything is queued (`workflows.ensemble_plan`); {} without
    temperatures."""
    from ltcli.workflows import ensemble_plan

    text = (temperatures or "").strip()
    if not text:
        return {}
    if not given.get("init_from"):
        raise LtcliError("the ensemble (t1,t2) averages the new run with the run it starts from: pick an earlier "
                         "run in 'start from'")
    ensemble_plan(RunFolder(root.path / str(given["init_from"])), text)
    return {"ensemble": {"temperatures": text}}


def class2id_names(root: AppRoot, positive_classes: list[str] | None) -> list[str] | None:
    """--positive-classes as the page may give it: class names, or a class2id JSON file under the
    root's data areas (read here, confined like every path of the page, so its names are what the
    job records); never a file elsewhere on the server."""
    from ltcli.data.binary import class2id_file, read_class2id

    text = class2id_file(positive_classes)
    if text is None:
        return positive_classes
    return read_class2id(root.confine(text, (RAW_AREA, DATASETS_AREA), "positive classes file"))
