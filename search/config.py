"""One source of truth for configuration, read by both the CLI and the web app.

Every setting has a default here and can be overridden with a ``ZHSEARCH_<NAME>`` environment
variable (``ZHSEARCH_INDEX_DIR=/srv/index``); the CLI's options override both. Values are read
as text, whatever they look like (``ZHSEARCH_INDEX_DIR=2024`` is the folder ``2024``); one that
does not fit its setting raises :class:`~search.errors.ConfigError` with a one-line message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from dataclasses import field as dataclass_field
from pathlib import Path

from search.errors import ConfigError, ParameterError

# The folders a build reads when neither ZHSEARCH_SOURCES nor the command line names any.
DEFAULT_SOURCES = (Path("seeds"),)


@dataclass(frozen=True)
class Settings:
    """Paths and limits shared by the library, the CLI and the web app."""

    index_dir: Path = Path("index")
    # Folders of articles; None when none are configured: a build then reads DEFAULT_SOURCES,
    # an update the folders the index was built from (see ``build_sources``).
    sources: tuple[Path, ...] | None = None
    # Extra words for jieba, one per line (``word [freq] [tag]``); optional.
    user_dict: Path = Path("userdict.txt")
    # Synonyms applied at query time, in Solr's format (``a, b, c``; ``a => b``); optional,
    # re-read when it changes.
    synonyms: Path = Path("synonyms.txt")
    per_page: int = 10
    max_per_page: int = 100
    # Far beyond any real result list; refusing larger page numbers keeps paging cheap.
    max_page: int = 10_000
    # Longest query accepted, in characters; longer ones are refused with a clear message.
    max_query_length: int = 200
    # Cap on the index terms one query may expand to (n-grams included).
    max_query_terms: int = 256
    # Longest text /api/analyze accepts, in characters.
    max_analyze_length: int = 5000
    # Longest highlighted excerpt of a paragraph, in characters.
    snippet_length: int = 180
    # Repair byte-shifted mojibake at ingestion (ZHSEARCH_REPAIR_MOJIBAKE=0 turns it off).
    repair_mojibake: bool = True
    # Where the index lives: "whoosh" (the folder index_dir) or "opensearch" (a cluster).
    engine: str = "whoosh"
    # OpenSearch: the nodes (comma-separated in ZHSEARCH_OPENSEARCH_URL; https:// for TLS), the
    # alias that searches read and builds switch, basic auth, certificate checks (on unless
    # turned off) against the system's or this CA file, the timeout of one request in seconds,
    # and the primary shards and replicas of each new index a build makes.
    opensearch_url: tuple[str, ...] = ("http://127.0.0.1:9200",)
    opensearch_index: str = "zhsearch"
    opensearch_user: str = ""
    opensearch_password: str = dataclass_field(default="", repr=False)
    opensearch_verify_certs: bool = True
    opensearch_ca_certs: str = ""
    opensearch_timeout: float = 30.0
    opensearch_shards: int = 3
    opensearch_replicas: int = 1

    def check_page(self, page: int, per_page: int) -> None:
        """Raise ``ParameterError`` unless ``page`` and ``per_page`` are within the limits.

        The one place for the rule: ``Searcher.search`` and the API's parameter model call it.
        """
        for name, value, high in (("page", page, self.max_page),
                                  ("per_page", per_page, self.max_per_page)):
            if not 1 <= value <= high:
                raise ParameterError(f"{name} must be from 1 to {high}, not {value}")

    @property
    def build_sources(self) -> tuple[Path, ...]:
        """The folders a build reads: the configured ones, or ``DEFAULT_SOURCES``."""
        return self.sources or DEFAULT_SOURCES


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the defaults, then ``ZHSEARCH_*`` variables, then ``overrides``.

    ``env`` defaults to ``os.environ``; an override of None leaves the setting as it is.

    >>> load_settings({"ZHSEARCH_PER_PAGE": "20"}).per_page
    20
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = env.get(variable(field.name))
        if raw is None or raw == "":
            continue
        values[field.name] = _parse(field.name, str(field.type), raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(Settings(), **values)
    _check(settings)
    if "per_page" in values and settings.per_page > settings.max_per_page:
        raise ConfigError(f"{variable('per_page')} ({settings.per_page}) is more than "
                          f"{variable('max_per_page')} ({settings.max_per_page})")
    settings = replace(
        settings,
        index_dir=Path(settings.index_dir),
        sources=None if settings.sources is None else tuple(Path(p) for p in settings.sources),
        user_dict=Path(settings.user_dict),
        synonyms=Path(settings.synonyms),
        # A maximum below the default (ZHSEARCH_MAX_PER_PAGE=3) lowers the default with it.
        per_page=min(settings.per_page, settings.max_per_page),
    )
    return settings


def variable(name: str) -> str:
    """The environment variable of setting ``name``: ``ZHSEARCH_<NAME>``."""
    return f"ZHSEARCH_{name.upper()}"


_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


ENGINES = ("whoosh", "opensearch")


def _check(settings: Settings) -> None:
    """Refuse settings that cannot work, naming the variable to fix."""
    if settings.engine not in ENGINES:
        raise ConfigError(f"{variable('engine')} must be one of {', '.join(ENGINES)}, "
                          f"not {settings.engine[:40]!r}")
    if settings.engine != "opensearch":
        return
    if not settings.opensearch_url:
        raise ConfigError(f"{variable('opensearch_url')} names no node")
    for url in settings.opensearch_url:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{variable('opensearch_url')}: {url[:60]!r} is not an http:// "
                              "or https:// URL")
    name = settings.opensearch_index
    if not name or name != name.lower() or name[0] in "-_+." or not name.isprintable():
        raise ConfigError(f"{variable('opensearch_index')} must be a lower-case name not "
                          f"starting with - _ + or ., not {name[:40]!r}")
    if settings.opensearch_shards < 1 or settings.opensearch_replicas < 0:
        raise ConfigError(f"{variable('opensearch_shards')} must be 1 or more and "
                          f"{variable('opensearch_replicas')} 0 or more")
    if settings.opensearch_timeout <= 0:
        raise ConfigError(f"{variable('opensearch_timeout')} must be more than 0 seconds")


def _parse(name: str, kind: str, raw: str) -> object:
    # ``kind`` is the field's annotation as written above (the module defers annotations).
    if kind == "tuple[str, ...]":  # node URLs, comma-separated
        return tuple(url.strip().rstrip("/") for url in raw.split(",") if url.strip())
    if kind == "str":
        return raw
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{variable(name)} must be a number, not {raw[:40]!r}") from None
    if name == "opensearch_replicas" and raw == "0":
        return 0
    if kind.startswith("tuple"):
        return tuple(Path(p) for p in raw.split(os.pathsep) if p) or None
    if kind == "Path":
        return Path(raw)
    if kind == "bool":
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{variable(name)} must be 1 or 0, not {raw[:40]!r}")
        return raw.lower() in ("1", "true", "yes", "on")
    # Only ASCII digits: int() would also take "1_0", " 7 " and other scripts' digits.
    if not _WHOLE_NUMBER.fullmatch(raw) or int(raw) < 1:
        raise ConfigError(f"{variable(name)} must be a whole number of 1 or more, "
                          f"not {raw[:40]!r}")
    return int(raw)
