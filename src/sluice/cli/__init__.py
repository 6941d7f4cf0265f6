"""The ``sluice`` command: one typer app, each command a thin module of this package.

``validate`` (validate.py), ``query`` (query.py), ``serve`` (serve.py), ``demo``, ``demo-data``
and ``load-demo`` (demo.py), ``keys create|list|revoke`` (keys.py), ``init`` and ``refresh``
(schema.py). Each parses its arguments, calls the library and prints; ``python -m sluice.cli``
runs the same app.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sluice.cli import demo, keys, query, schema, serve, validate

app = typer.Typer(
    name="sluice",
    help="A self-hosted semantic query server that speaks Omni's query API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from sluice.extras import DISTRIBUTION

        try:
            print(f"sluice {version(DISTRIBUTION)}")
        except PackageNotFoundError:  # running from a source tree that is not installed
            print("sluice (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="print the version and exit", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """A self-hosted semantic query server that speaks Omni's query API."""


# In this order in `sluice --help`.
app.command("demo-data")(demo.demo_data)
app.command("validate")(validate.validate)
app.command("query")(query.query)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.add_typer(keys.app, name="keys")
app.command("init")(schema.init)
app.command("refresh")(schema.refresh)
app.command("load-demo")(demo.load_demo)


def main() -> None:
    app()
