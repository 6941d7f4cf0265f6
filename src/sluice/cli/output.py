"""Where the commands print: stdout and stderr, and the failure lines they share."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sluice.config import Config, load_config
from sluice.errors import SluiceError

out = Console()
err = Console(stderr=True)


def error_exit(message: str, code: int) -> NoReturn:
    """``error: <message>`` on stderr (``error:`` in red, the message escaped), then exit."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr (the message printed as it is, never as markup), then exit."""
    err.print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    raise typer.Exit(code)


def load(path: Path) -> Config:
    """The project's config, or its error on stderr and exit code 2."""
    try:
        return load_config(path)
    except SluiceError as exc:
        error_exit(exc.message, 2)
