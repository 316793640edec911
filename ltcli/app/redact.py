"""What a page or API message may say about the server's files: names relative to the app's root,
an upload by its own file name, nothing of the folders behind them (gradio's upload cache, the
app's scratch folder, the absolute root), and one line of bounded length."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

MAX_MESSAGE = 500  # characters of one error on the page: a huge echoed value must not flood it


def gradio_upload_dir() -> Path:
    """Where gradio keeps uploads (GRADIO_TEMP_DIR, else <tmp>/gradio), each in a <hash>/ folder."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def _spellings(folder: Path) -> list[str]:
    """The folder as given and resolved (/tmp may be a link), longest first, without a trailing slash."""
    forms = {str(folder).rstrip("/\\"), str(Path(folder).resolve()).rstrip("/\\")}
    return sorted((f for f in forms if f), key=len, reverse=True)


def public_message(text: str, root: Path, private: Iterable[Path] = ()) -> str:
    """`text` with every path under `root` made root-relative, every upload (gradio's cache) and
    file in a `private` folder named by its file name alone, on one line, cut to MAX_MESSAGE."""
    text = " ".join(str(text).split())
    for folder in [gradio_upload_dir(), *private]:
        for spelling in _spellings(folder):
            # <folder>/<hash or subfolders>/<name> -> <name>
            text = re.sub(re.escape(spelling) + r"[/\\](?:[^/\\\s'\"]+[/\\])*", "", text)
            text = text.replace(spelling, "(server folder)")
    for spelling in _spellings(root):
        text = re.sub(re.escape(spelling) + r"[/\\]", "", text)
        text = re.sub(re.escape(spelling) + r"(?![^/\\\s'\",:;)])", "the app's root", text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 1] + "…"
    return text
