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
