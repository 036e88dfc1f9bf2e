"""One source of truth for configuration, read by both the CLI and the web app.

Every setting has a default here and can be overridden with a ``ZHSEARCH_<NAME>`` environment
variable (``ZHSEARCH_INDEX_DIR=/srv/index``); the CLI's options override both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Paths and limits shared by the library, the CLI and the web app."""

    index_dir: Path = Path("index")
    sources: tuple[Path, ...] = (Path("seeds"),)
    # Extra words for jieba, one per line (``word [freq] [tag]``); optional.
    user_dict: Path = Path("userdict.txt")
    per_page: int = 10
    max_per_page: int = 100
    # Longest query accepted, in characters; longer ones are refused with a clear message.
    max_query_length: int = 200
    # Cap on the index terms one query may expand to (n-grams included).
    max_query_terms: int = 256
    # Longest highlighted excerpt of a paragraph, in characters.
    snippet_length: int = 180
    # Repair byte-shifted mojibake at ingestion (ZHSEARCH_REPAIR_MOJIBAKE=0 turns it off).
    repair_mojibake: bool = True


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the defaults, then ``ZHSEARCH_*`` variables, then ``overrides``.

    >>> load_settings({"ZHSEARCH_PER_PAGE": "20"}).per_page
    20
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = env.get(f"ZHSEARCH_{field.name.upper()}")
        if raw is None or raw == "":
            continue
        values[field.name] = _parse(field.name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(Settings(), **values)
    return replace(
        settings,
        index_dir=Path(settings.index_dir),
        sources=tuple(Path(p) for p in settings.sources),
        user_dict=Path(settings.user_dict),
    )


def _parse(name: str, raw: str) -> object:
    default = getattr(Settings(), name)
    if isinstance(default, tuple):
        return tuple(Path(p) for p in raw.split(os.pathsep) if p)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"ZHSEARCH_{name.upper()} must be 1 or 0, not {raw!r}")
        return raw.lower() in ("1", "true", "yes", "on")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"ZHSEARCH_{name.upper()} must be a whole number, not {raw!r}") from None
