"""The Data tab: `ltcli stats` of a dataset under the root (counts per class and split, imbalance,
head/medium/tail groups, files training would skip) and its class histogram."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ltcli.app.catalog import dataset_choices
from ltcli.app.datasets import list_image_root
from ltcli.app.paths import DATASETS_AREA, RAW_AREA
from ltcli.app.ui import Tab, page_errors, table


class DataTab(Tab):
    @page_errors
    def stats(self, dataset: str, log: bool = False, data_root: str = "") -> tuple[Any, str, str]:
        """Counts of `dataset` (a_datasets/NAME or data_split/NAME; `data_root`: a list dataset's image
        root under the app's root, empty for the lists' folder): returns (a table class x split with
        each class's group, a summary, the class histogram)."""
        from ltcli.data.stats import dataset_stats
        from ltcli.run_plots import plot_class_histogram

        root = self.context.root
        folder = root.confine_tree(root.confine(dataset, (DATASETS_AREA, RAW_AREA), "dataset"), dataset, "dataset")
        images = list_image_root(root, dataset, data_root)
        result = dataset_stats(folder, data_root=None if images is None else root.path / images)
        groups = {c: group for group, members in result.groups().items() for c in members}
        rows = [[c, *(result.counts[s][c] for s in result.splits), groups[c]] for c in result.class_names]
        rows.append(["total", *(sum(result.counts[s].values()) for s in result.splits), ""])
        ratio = result.imbalance_ratio()
        skipped = len(result.non_images) + len(result.undecodable) + len(result.unreadable)
        summary = (f"**{dataset}** ({result.layout} layout): {len(result.class_names)} classes; imbalance ratio "
                   f"({result.reference_split}): {'undefined' if ratio is None else f'{ratio:.1f}'}; groups: "
                   + ", ".join(f"{g} {len(m)}" for g, m in result.groups().items())
                   + f"; files training would skip: {skipped}; duplicates across splits: "
                   f"{len(result.duplicates_across_splits)}")
        figure = self.context.figure_path("stats")
        order = sorted(result.class_names, key=lambda c: (-result.counts[result.reference_split][c], c))
        plot_class_histogram(result.counts, order, figure, log=bool(log),
                             title=f"{folder.name}: images per class" + (" (log scale)" if log else ""))
        return table(rows, ["class", *result.splits, "group"]), summary, str(figure)

    def build(self) -> None:
        with gr.Row():
            choices = dataset_choices(self.context.root)
            dataset = gr.Dropdown(choices, value=choices[0] if choices else None, label="dataset",
                                  allow_custom_value=True, elem_id="data-dataset")
            data_root = gr.Textbox("", label="image root (lists only)", placeholder="empty: the lists' folder")
            log = gr.Checkbox(False, label="log scale")
            button = gr.Button("Show", variant="primary", elem_id="data-button")
        summary = gr.Markdown()
        counts = gr.Dataframe(table([], ["class"]), label="images per class and split", interactive=False)
        histogram = gr.Image(label="class histogram", type="filepath")
        button.click(self.stats, [dataset, log, data_root], [counts, summary, histogram], api_name="stats")
        self.dataset = dataset
