"""``python -m sluice.cli``: the ``sluice`` command without its installed script."""

from sluice.cli import main

main()
