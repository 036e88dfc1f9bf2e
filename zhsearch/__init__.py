"""The ``zhsearch`` command-line application, over the ``search`` library and the ``web`` app."""
