"""`ltcli app`: the Train / Infer / Compare / Runs / Data web page, a thin gradio face over the
library, as the CLI is a thin Typer face over it.

Importing this package does not import gradio; `ltcli.app.server.build_app` does (the `app` extra).
"""
