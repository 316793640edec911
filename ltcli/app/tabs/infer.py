"""The Infer tab: uploaded images (or a folder under the root) through one run or an ensemble
(`ltcli.engine.classifier.predict_files`), or through an exported model under exports/ on ONNX
Runtime (`ltcli.export.predict`): the top-5 classes of each with probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ltcli.app.catalog import export_choices, run_choices
from ltcli.app.paths import AREAS, EXPORTS_AREA
from ltcli.app.tabs.common import run_folders, whole, whole_box
from ltcli.app.ui import Tab, page_errors, table
from ltcli.errors import LtcliError

TOP_K = 5
INFER_COLUMNS = ("file", *(c for k in range(1, TOP_K + 1) for c in (f"class_{k}", f"probability_{k}")))


def upload_paths(files: list[Any] | None, limit: int) -> list[Path]:
    """The uploaded files' paths (gradio's temporary copies), each at most `limit` bytes."""
    paths = []
    for item in files or []:
        path = Path(item if isinstance(item, str) else getattr(item, "name", None) or item["path"])
        size = path.stat().st_size
        if size > limit:
            raise LtcliError(f"{path.name} is {size / 2**20:.1f} MB: uploads are limited to {limit / 2**20:g} MB")
        paths.append(path)
    return paths


class InferTab(Tab):
    @page_errors
    def infer(self, images: list[Any] | None = None, folder: str = "", runs: list[str] | None = None,
              top_k: float = TOP_K, exported: str | None = "") -> tuple[Any, str]:
        """Classify the uploaded images and/or every image under `folder` (root-relative) with the
        picked run, or the averaged probabilities of several picked runs, or, when `exported` names an
        exported model folder under exports/, with that model instead; returns (a table of the top_k
        classes and probabilities per image, a note on what was skipped)."""
        from ltcli.engine.classifier import predict_files
        from ltcli.export.predict import predict_files_onnx

        root = self.context.root
        model = None
        if exported and exported.strip():
            model = root.confine_tree(root.confine(exported, (EXPORTS_AREA,), "exported model"), exported,
                                      "exported model")
        chosen = run_folders(root, runs) if model is None else []
        paths = upload_paths(images, self.context.max_upload_bytes)
        if folder and folder.strip():
            paths.append(root.confine_tree(root.confine(folder, AREAS, "image folder"), folder, "image folder"))
        if not paths:
            raise LtcliError("upload an image (or name a folder under the root) to classify")
        k = whole(top_k, "top k")
        if model is not None:
            result = predict_files_onnx(model, paths, k)
            result.label = f"{root.relative(model)} (ONNX Runtime)"
        else:
            result = predict_files(chosen, paths, self.context.device, k)
        shown_name = {str(p): self._display_name(p) for p in paths if p.is_file()}
        columns = ["file", *(c for r in range(1, min(k, len(result.class_names)) + 1)
                             for c in (f"class_{r}", f"probability_{r}"))]
        rows = [[shown_name.get(row["file"], root.relative(Path(row["file"])))]
                + [row.get(column) for column in columns[1:]] for row in result.rows]
        note = f"{result.label}: {len(rows)} image(s)"
        if result.corrupt:
            note += f"; skipped {len(result.corrupt)} file(s) that do not decode: " + ", ".join(
                self._display_name(p) for p in result.corrupt[:5])
        if result.skipped:
            note += f"; skipped {len(result.skipped)} non-image file(s)"
        return table(rows, columns), note

    def _display_name(self, path: Path) -> str:
        """An upload by its own name (not gradio's temporary folder), a root file by its root path."""
        relative = self.context.root.relative(path)
        return relative if not Path(relative).is_absolute() else Path(path).name

    def build(self) -> None:
        root = self.context.root
        gr.Markdown("Classify images with a trained run; pick several runs to average their probabilities "
                    "(an ensemble), or an exported model under exports/ (`ltcli export`). Images are decoded as in "
                    "training; one that does not decode is reported.")
        with gr.Row():
            images = gr.File(file_count="multiple", file_types=["image"], label="images", elem_id="infer-images")
            with gr.Column():
                choices = run_choices(root)
                runs = gr.Dropdown(choices, value=[choices[0][1]] if choices else [], multiselect=True,
                                   label="run(s)", elem_id="infer-runs", allow_custom_value=True)
                top_k = whole_box(TOP_K, "top classes", minimum=1)
                folder = gr.Textbox("", label="or a folder under the root", placeholder="a_datasets/NAME/test/CLASS")
                exported = gr.Dropdown(["", *export_choices(root)], value="", label="or an exported model (instead "
                                       "of the runs; ONNX Runtime)", elem_id="infer-exported", allow_custom_value=True)
                button = gr.Button("Infer", variant="primary", elem_id="infer-button")
        note = gr.Markdown(elem_id="infer-note")
        result = gr.Dataframe(table([], INFER_COLUMNS), label="top-5 classes", interactive=False,
                              elem_id="infer-result")
        button.click(self.infer, [images, folder, runs, top_k, exported], [result, note], api_name="infer")
        self.runs = runs
