"""Small gradio helpers shared by the tabs: their base class, library errors as page messages, tables."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr

from ltcli.errors import LtcliError, error_line

if TYPE_CHECKING:
    from ltcli.app.context import AppContext

F = TypeVar("F", bound=Callable[..., Any])


class Tab:
    """A tab of the page (or a part of one): handlers that read and write through the AppContext
    every tab shares, and a `build` that lays out its components."""

    def __init__(self, context: AppContext) -> None:
        self.context = context


def page_errors(handler: F) -> F:
    """Raise a library error as gr.Error: one line on the page (a toast) and the error message of
    an API call, never a stack trace, never a server path (AppContext.public). The wrapper keeps
    the handler's signature, so the API's parameter names are the handler's."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        context = getattr(args[0], "context", None) if args else None
        public = context.public if context is not None else (lambda text: " ".join(str(text).split()))
        try:
            return handler(*args, **kwargs)
        except (LtcliError, OSError) as error:
            raise gr.Error(public(error_line(error)), print_exception=False) from None
        except Exception as error:  # a bug: its traceback on the server's console, one line on the page
            traceback.print_exc()
            raise gr.Error(public(f"unexpected {type(error).__name__}: {error}"), print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def table(rows: list[list[Any]], headers: list[str] | tuple[str, ...]) -> Any:
    """A Dataframe value: a pandas frame, so an empty table still has its headers."""
    import pandas as pd

    return pd.DataFrame(rows, columns=list(headers))
