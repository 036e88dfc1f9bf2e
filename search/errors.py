"""The base of every error the library raises for people to read, with a stable ``code``.

The library decides what went wrong; a front end only maps the code to its own terms (the web
app to an HTTP status, the CLI to an exit status), so a new error needs no change there unless it
means something new to them.
"""

from __future__ import annotations


class SearchError(Exception):
    """An error meant for people: ``str()`` is a one-line message, ``code`` a stable name."""

    code = "search_error"


class ParameterError(SearchError, ValueError):
    """An argument out of its range (a page number, a page size, a text too long)."""

    code = "bad_parameter"


class ConfigError(SearchError, ValueError):
    """A setting (a ``ZHSEARCH_*`` variable or an override) that cannot be used."""

    code = "bad_config"
