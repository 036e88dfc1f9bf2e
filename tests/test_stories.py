"""Stories: reposts found by MinHash with LSH, stored in the build, kept by update."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import opencc
import pytest
from conftest import SEED, SEED_ID, SIMPLIFIED_ARTICLES

from search.documents import read_document
from search.index import build, current_build, update
from search.stories import STORIES_FILE, Stories, signature

SEED_TEXT = SEED.read_text(encoding="utf-8")
# The seed's date line; a repost is published a day later.
SEED_DATE = "2023-04-19 09:39:36"
REPOST_DATE = "2023-04-20 10:00:00"
LAW = "（1997年12月29日第八届全国人民代表大会常务委员会第二十九次会议通过）"


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def banner(parts: list[str]) -> list[str]:
    return ["本文转载自人民网", *parts]


def title_prefix(parts: list[str]) -> list[str]:
    return ["转载｜" + parts[0], *parts[1:]]


def title_suffix(parts: list[str]) -> list[str]:
    return [parts[0] + " - 新浪新闻", *parts[1:]]


def editor_line(parts: list[str]) -> list[str]:
    return [*parts, "（责任编辑：张伟）"]


def dropped_paragraph(parts: list[str]) -> list[str]:
    longest = max(range(3, len(parts)), key=lambda i: len(parts[i]))
    return parts[:longest] + parts[longest + 1:]


def changed_characters(parts: list[str]) -> list[str]:
    body = parts[4]
    changed = body[:10] + "甲" + body[11:40] + body[41:80] + "乙" + body[81:]
    return [*parts[:4], changed, *parts[5:]]


def simplified(parts: list[str]) -> list[str]:
    convert = opencc.OpenCC("t2s").convert
    return [convert(p) for p in parts]


def everything(parts: list[str]) -> list[str]:
    return simplified(editor_line(changed_characters(dropped_paragraph(
        title_prefix(banner(parts))))))


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def repost_of_seed(folder: Path, change: Callable[[list[str]], list[str]],
                   name: str = "repost.txt") -> Path:
    text = "\n\n".join(change(paragraphs(SEED_TEXT.replace(SEED_DATE, REPOST_DATE))))
    return write(folder, name, text + "\n")


def stories_of(folder: Path) -> Stories:
    docs = [read_document(path, path.stem) for path in sorted(folder.glob("*.txt"))]
    return Stories.from_signatures(signature(doc) for doc in docs)


@pytest.mark.parametrize("change", [
    simplified, banner, title_prefix, title_suffix, editor_line, dropped_paragraph,
    changed_characters, everything,
], ids=lambda change: change.__name__)
def test_a_repost_joins_the_story_of_its_original(tmp_path: Path,
                                                  change: Callable[[list[str]], list[str]]
                                                  ) -> None:
    shutil.copyfile(SEED, tmp_path / SEED.name)
    repost_of_seed(tmp_path, change)
    for name, text in SIMPLIFIED_ARTICLES.items():
        write(tmp_path, Path(name).name, text)

    stories = stories_of(tmp_path)

    assert stories.story("repost") == [SEED_ID, "repost"]
    assert stories.story_id("repost") == SEED_ID  # the earlier copy represents the story
    assert stories.story("lidian") == ["lidian"]
    assert stories.groups() == [[SEED_ID, "repost"]]


def test_the_earliest_dated_copy_represents_the_story(tmp_path: Path) -> None:
    shutil.copyfile(SEED, tmp_path / "b_original.txt")
    repost_of_seed(tmp_path, simplified, "a_repost.txt")  # sorts first by name, dated later
    undated = paragraphs(SEED_TEXT)
    undated[2] = "作者:劉振江"  # the byline without its date
    write(tmp_path, "0_undated.txt", "\n\n".join(undated))

    stories = stories_of(tmp_path)

    assert stories.story("0_undated") == ["b_original", "a_repost", "0_undated"]


def test_templated_texts_with_different_titles_stay_apart(tmp_path: Path) -> None:
    # Two laws' headings differ only in the law's name: as close as a repost with a changed
    # character, but the titles say they are different articles.
    write(tmp_path, "price.txt", f"中华人民共和国价格法\n\n{LAW}\n")
    write(tmp_path, "quake.txt", f"中华人民共和国防震减灾法\n\n{LAW}\n")
    write(tmp_path, "price_copy.txt", f"【转载】中华人民共和国价格法\n\n{LAW}\n\n编辑：李华\n")

    stories = stories_of(tmp_path)

    assert stories.groups() == [["price", "price_copy"]]


def test_a_short_text_joins_only_the_same_text(tmp_path: Path) -> None:
    write(tmp_path, "painting.txt", "细语（中国画）\n")
    write(tmp_path, "painting_zht.txt", "細語（中國畫）\n")
    write(tmp_path, "other.txt", "细语（油画）\n")

    stories = stories_of(tmp_path)

    assert stories.groups() == [["painting", "painting_zht"]]


def test_stories_are_saved_and_loaded_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    repost_of_seed(source, everything)
    write(source, "lidian.txt", SIMPLIFIED_ARTICLES["news/lidian.txt"])
    stories = stories_of(source)

    stories.save(tmp_path)
    loaded = Stories.load(tmp_path)

    assert loaded is not None
    assert loaded.groups() == stories.groups() == [[SEED_ID, "repost"]]
    assert loaded.params == stories.params
    assert loaded.signatures.keys() == stories.signatures.keys()
    for doc_id, sig in stories.signatures.items():
        other = loaded.signatures[doc_id]
        assert (other.published, other.shingles, other.heads) == \
            (sig.published, sig.shingles, sig.heads)
        assert (other.hashvalues == sig.hashvalues).all()


def test_a_damaged_stories_file_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / STORIES_FILE).write_text("{not json", encoding="utf-8")
    assert Stories.load(tmp_path) is None
    assert Stories.load(tmp_path / "missing") is None


def test_build_stores_stories_and_update_keeps_them(tmp_path: Path) -> None:
    source, index = tmp_path / "source", tmp_path / "index"
    write(source, "lidian.txt", SIMPLIFIED_ARTICLES["news/lidian.txt"])
    shutil.copyfile(SEED, source / SEED.name)
    build([source], index, procs=1)
    build_dir = current_build(index)
    assert (build_dir / STORIES_FILE).exists()
    assert Stories.load(build_dir).groups() == []  # type: ignore[union-attr]

    # A repost arrives: update reads only it and places it into the seed's story.
    repost = repost_of_seed(source, everything)
    report = update([source], index)
    assert report.added == ["repost"] and not report.changed
    assert current_build(index) == build_dir  # no rebuild
    assert Stories.load(build_dir).groups() == [[SEED_ID, "repost"]]  # type: ignore[union-attr]

    # The original goes: the repost is a story of its own again.
    (source / SEED.name).unlink()
    update([source], index)
    stories = Stories.load(build_dir)
    assert stories is not None
    assert stories.groups() == []
    assert set(stories.signatures) == {"lidian", "repost"}

    # The original comes back, and the repost is changed into another article.
    shutil.copyfile(SEED, source / SEED.name)
    repost.write_text(SIMPLIFIED_ARTICLES["news/nongye.txt"], encoding="utf-8")
    report = update([source], index)
    assert report.added == [SEED_ID] and report.changed == ["repost"]
    assert Stories.load(build_dir).groups() == []  # type: ignore[union-attr]
