"""Shared fixtures: real articles on disk and real indexes built from them, once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search.config import load_settings
from search.index import build
from search.query import Searcher

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_0c4e82e9c0ffe15d.txt"
SEED_ID = "000_0c4e82e9c0ffe15d"

# Small articles in SIMPLIFIED script, so that matching is tested in both directions: the seed
# is traditional, these are simplified, and queries come in either script.
SIMPLIFIED_ARTICLES = {
    "news/lidian.txt": """锂电产业链加快集聚

作者:王明 来源:人民网 2022-12-01 08:00:00

枣庄锂电产业加快发展，一批新能源项目落地投产。

马克思主义理论学习会在市委党校举行，与会人员交流了学习体会。

iPhone 15 与 COVID-19 疫情之后的消费电子市场，版本 3.6.3 的软件更新。

编辑:李华
""",
    "news/nongye.txt": """现代农业孵化中心建成

孟庄镇的现代农业孵化中心今年建成，带动周边农户增收。

镇上还建设了孙枝鸡产业园。
""",
}


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source folder holding the seed article and the simplified ones."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copyfile(SEED, root / SEED.name)
    for name, text in SIMPLIFIED_ARTICLES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def index_dir(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Whoosh index built from :func:`corpus_dir` (shared: tests must not change it)."""
    target = tmp_path_factory.mktemp("index")
    build([corpus_dir], target, procs=1)
    return target


@pytest.fixture(scope="session")
def searcher(index_dir: Path) -> Searcher:
    s = Searcher(index_dir, load_settings({}))
    yield s
    s.close()


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A fresh source folder with just the seed article, for tests that change files."""
    source = tmp_path / "seeds"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    return source
