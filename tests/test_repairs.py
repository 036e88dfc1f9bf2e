"""Mojibake repair at ingestion: what gets indexed and shown, the switch, and the JSON listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from search.config import load_settings
from search.index import build
from search.query import Searcher
from tests.conftest import ROOT, SEED_ID
from tests.test_query import keys, marks


@pytest.mark.parametrize(("query", "paragraph", "marked"), [
    ("滕州", 2, "滕州"), ("工信局", 2, "工信局"), ("话音", 6, "話音"), ("話音", 6, "話音"),
])
def test_repaired_text_is_found_and_highlighted(searcher: Searcher, query: str, paragraph: int,
                                                marked: str) -> None:
    page = searcher.search(query)
    assert keys(page) == [(SEED_ID, paragraph)]
    assert marked in marks(page.hits[0].highlight)


def test_repaired_sentences_are_what_is_shown(searcher: Searcher) -> None:
    article = searcher.article(SEED_ID)
    assert article is not None
    assert "倍增干勁。”滕州市工信局局長孟凡軍表示" in article.paragraphs[1]
    assert "想對策、談未來。“嶧城是‘中國石榴之鄉’" in article.paragraphs[5]
    assert "讓石榴產業進一步做強。”一位同志話音剛?,另一位同志" in article.paragraphs[5]
    assert "玩在嶧城。”榴園鎮經委主任張百川" in article.paragraphs[5]


@pytest.fixture(scope="module")
def unrepaired(seed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    target = tmp_path_factory.mktemp("unrepaired")
    report = build([seed_dir], target, procs=1, repair=False)
    assert report.repairs == []
    searcher = Searcher(target, load_settings({}))
    yield searcher
    searcher.close()


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("seed")
    (source / f"{SEED_ID}.txt").write_bytes((ROOT / "seeds" / f"{SEED_ID}.txt").read_bytes())
    return source


def test_switched_off_the_garbage_stays_but_makes_no_index_terms(unrepaired: Searcher) -> None:
    assert unrepaired.search("滕州").total == 0
    article = unrepaired.article(SEED_ID)
    assert article is not None and "彪\ue269菔泄ば啪志珠L孟凡軍" in article.paragraphs[1]
    # Garbled characters are shown as they are but are not searchable...
    for garbage in ("彪", "菔泄", "啪志", '"泄ば啪"'):
        assert unrepaired.search(garbage).total == 0, garbage
    # ...while the clean words around them still are, highlighted on the original characters.
    page = unrepaired.search("孟凡军")
    assert keys(page) == [(SEED_ID, 2)]
    assert marks(page.hits[0].highlight) == ["孟凡軍"]
    assert "彪\ue269菔泄ば啪志珠L孟凡軍" in page.hits[0].text


def test_repairs_are_listed_as_json(seed_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "zhsearch", "repairs", "--source",
                          str(seed_dir)], capture_output=True, text=True, check=True).stdout
    repairs = json.loads(out)
    assert [(r["doc_id"], r["paragraph"], r["after"]) for r in repairs] == [
        (SEED_ID, 2, "。”滕州市工信局局長"), (SEED_ID, 6, "。“嶧"),
        (SEED_ID, 6, "。”一位同志話音剛?"), (SEED_ID, 6, "。”榴園"),
    ]
    assert all(r["score"] > 0 and r["before"].startswith("?!") for r in repairs)


def test_build_lists_every_repair_and_the_switch_turns_them_off(seed_dir: Path,
                                                                tmp_path: Path) -> None:
    on = subprocess.run([sys.executable, "-m", "zhsearch", "build", "--source", str(seed_dir),
                         "--index", str(tmp_path / "on"), "--procs", "1"],
                        capture_output=True, text=True, check=True)
    assert on.stderr.count("repaired ") == 4 and "4 repaired" in on.stdout
    off = subprocess.run([sys.executable, "-m", "zhsearch", "build", "--source", str(seed_dir),
                          "--index", str(tmp_path / "off"), "--procs", "1", "--no-repair"],
                         capture_output=True, text=True, check=True)
    assert "repaired " not in off.stderr and "0 repaired" in off.stdout


def test_environment_switch() -> None:
    assert load_settings({"ZHSEARCH_REPAIR_MOJIBAKE": "0"}).repair_mojibake is False
    assert load_settings({}).repair_mojibake is True
    with pytest.raises(ValueError, match="must be 1 or 0"):
        load_settings({"ZHSEARCH_REPAIR_MOJIBAKE": "maybe"})
