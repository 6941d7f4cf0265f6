"""One progress bar for the commands that work through named steps (data generation, loading)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

Step = Callable[[str, int, int], None]  # (step name, steps done, steps in all)


@contextmanager
def step_bar(
    console: Console, first: str, verb: str, *, total: int | None = None, done: str | None = None
) -> Iterator[Step]:
    """A bar that starts as ``first``, shows ``<verb> <step>`` as steps are reported, and ends as
    ``done`` (full) when given."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(first, total=total)

        def step(name: str, index: int, steps: int) -> None:
            bar.update(task, description=f"{verb} {name}", completed=index, total=steps)

        yield step
        if done is not None:
            bar.update(task, description=done, completed=1, total=1)
