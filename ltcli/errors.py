"""User-facing errors: the CLI prints their message on one line instead of a traceback."""


class LtcliError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""


def describe_os_error(error: OSError) -> str:
    """'permission denied: a_datasets/x' from an OSError: the reason and the path(s) it names,
    without the '[Errno 13]' noise of str(error)."""
    reason = error.strerror or str(error) or type(error).__name__
    reason = reason[:1].lower() + reason[1:]
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


def error_line(error: Exception) -> str:
    """The one line a user is shown for an LtcliError (its text) or an OSError (describe_os_error)."""
    return describe_os_error(error) if isinstance(error, OSError) else str(error)


SHOWN_CHARS = 200  # a user's value echoed in an error is cut to this: a message stays one readable line


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """repr(value) for an error message, cut to `limit` characters. reprlib bounds the work too: a
    structure built by YAML aliases to millions of items is never expanded in full."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 20
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_name(value: str, what: str) -> str:
    """A dataset (or model, objective) name is one folder name under a_datasets/ or logs/: not
    empty, no path separator, not `.` or `..`, so it can never reach a folder outside its parent."""
    import os

    separators = {"/", "\\", os.sep, os.altsep or "/"}
    if not value or value in (".", "..") or any(s in value for s in separators) or "\0" in value:
        raise LtcliError(f"{what} takes a name, not a path (no '/', not empty, '.' or '..'), got {shown(value)}")
    return value
