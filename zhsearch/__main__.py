"""So that ``python -m zhsearch`` is the ``zhsearch`` command."""

from zhsearch.cli import main

main()
