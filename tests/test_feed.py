"""The Atom feed of a query: the newest matching stories, linked from the results page."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from datetime import datetime

import opencc
import pytest

from search.index import build
from tests.conftest import SEED, SEED_ID, make_app
from web.searcher import close_searcher

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """The seed, a simplified repost of it a day later, 24 dated articles and an undated one."""
    source = tmp_path_factory.mktemp("feed-source")
    shutil.copyfile(SEED, source / SEED.name)
    seed = SEED.read_text(encoding="utf-8")
    repost = opencc.OpenCC("t2s").convert(seed.replace("2023-04-19 09:39:36", "2023-04-20 10:00"))
    (source / "repost.txt").write_text("转载｜" + repost.replace("枣庄新闻网", "人民网"),
                                       encoding="utf-8")
    for n in range(24):
        (source / f"brief{n:02d}.txt").write_text(
            f"枣庄快讯第{n}期\n\n来源：新华网 2023-03-{n + 1:02d} 08:00\n\n"
            f"枣庄第{n}项民生工程今天开工。", encoding="utf-8")
    (source / "undated.txt").write_text("枣庄无日期\n\n枣庄的一篇没有日期的文章。",
                                        encoding="utf-8")
    index = tmp_path_factory.mktemp("feed-index")
    build([source], index, procs=1)
    app = make_app(index)
    yield app.test_client()
    close_searcher(app)


def test_the_feed_lists_the_newest_twenty_stories_newest_first(client) -> None:
    response = client.get("/feed?q=枣庄")

    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 20
    updated = [datetime.fromisoformat(e.findtext(f"{ATOM}updated").replace("Z", "+00:00"))
               for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")
    # The seed's story is the newest (its repost is not an entry of its own), then the briefs.
    first = entries[0]
    assert first.findtext(f"{ATOM}id") == f"http://localhost/doc/{SEED_ID}"
    assert first.findtext(f"{ATOM}updated") == "2023-04-19T09:39:36Z"
    assert "也发表于：人民网" in first.findtext(f"{ATOM}summary")
    assert "<mark>" in first.findtext(f"{ATOM}summary")
    titles = [e.findtext(f"{ATOM}title") for e in entries[1:]]
    assert titles == [f"枣庄快讯第{n}期" for n in range(23, 4, -1)]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 20 and all(e.find(f"{ATOM}link").get("href") == i
                                       for e, i in zip(entries, ids, strict=True))


def test_the_results_page_links_its_feed(client) -> None:
    page = client.get("/?q=枣庄").get_data(as_text=True)
    assert ('<link rel="alternate" type="application/atom+xml" title="「枣庄」的最新报道" '
            'href="/feed?q=%E6%9E%A3%E5%BA%84">') in page
    assert 'type="application/atom+xml"' not in client.get("/").get_data(as_text=True)


def test_an_empty_query_is_an_empty_feed_and_a_refused_one_a_400(client) -> None:
    feed = ET.fromstring(client.get("/feed?q=").data)
    assert feed.findall(f"{ATOM}entry") == [] and feed.findtext(f"{ATOM}updated")
    refused = client.get("/feed?q=" + "工业" * 101)
    assert refused.status_code == 400
