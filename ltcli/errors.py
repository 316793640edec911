"""User-facing errors: the CLI prints their message on one line instead of a traceback."""


class LtcliError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""
