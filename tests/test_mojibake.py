"""Tests for search.mojibake: repairing byte-shifted GB18030 runs, and flagging garbled ones."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search import mojibake
from search.mojibake import garbled_spans, repair, text_score

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_0c4e82e9c0ffe15d.txt"

# The garbled runs of the seed article (as the file has them) and what they said, from issue 7.
SEED_RUNS = [
    ("倍增干勁?!彪\ue269菔泄ば啪志珠L孟凡軍表示", "倍增干勁。”滕州市工信局局長孟凡軍表示"),
    ("想對策、談未來?!皫F城是‘中國石榴之鄉’", "想對策、談未來。“嶧城是‘中國石榴之鄉’"),
    (
        "讓石榴產業進一步做強?!币晃煌\ue0f1驹捯魟偮?,另一位同志",
        "讓石榴產業進一步做強。”一位同志話音剛?,另一位同志",  # 落's second byte is lost
    ),
    ("玩在嶧城?!绷駡@鎮經委主任張百川", "玩在嶧城。”榴園鎮經委主任張百川"),
]


def seed_paragraphs() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    return [para.strip() for para in text.split("\n\n") if para.strip()]


def test_seed_runs_are_real() -> None:
    text = SEED.read_text(encoding="utf-8")
    for garbled, _ in SEED_RUNS:
        assert garbled in text


@pytest.mark.parametrize(("garbled", "expected"), SEED_RUNS)
def test_repairs_each_seed_run(garbled: str, expected: str) -> None:
    repaired, fixes = repair(garbled)
    assert repaired == expected
    assert len(fixes) == 1
    fix = fixes[0]
    assert garbled[fix.start : fix.end] == fix.before
    assert repaired == garbled[: fix.start] + fix.after + garbled[fix.end :]
    assert fix.score >= mojibake.MIN_GAIN


@pytest.mark.parametrize(("garbled", "expected"), SEED_RUNS)
def test_repairs_each_run_inside_its_paragraph(garbled: str, expected: str) -> None:
    paragraph = next(para for para in seed_paragraphs() if garbled in para)
    repaired, _ = repair(paragraph)
    assert expected in repaired
    assert garbled not in repaired


def test_seed_has_exactly_the_four_repairs() -> None:
    paragraphs = seed_paragraphs()
    results = [repair(para) for para in paragraphs]
    made = [(fix.before, fix.after) for _, fixes in results for fix in fixes]
    assert made == [
        ("?!彪\ue269菔泄ば啪志珠L", "。”滕州市工信局局長"),
        ("?!皫F", "。“嶧"),
        ("?!币晃煌\ue0f1驹捯魟偮?", "。”一位同志話音剛?"),
        ("?!绷駡@", "。”榴園"),
    ]
    for para, (repaired, fixes) in zip(paragraphs, results, strict=True):
        if not fixes:
            assert repaired == para


@pytest.mark.parametrize("tail", ["趙健?。?/span>", "趙健?。?"])
def test_unrepairable_run_is_left_alone_and_flagged(tail: str) -> None:
    # The byline names 趙健健: the lead byte of the second 健 was lost, and the '?' after '。'
    # is a byte whose partner ('<' of "</span>") went with it. Neither byte can be recovered
    # from the text itself, so the run stays as it is.
    paragraph = next(para for para in seed_paragraphs() if "趙健?。?/span>" in para)
    text = paragraph.replace("趙健?。?/span>", tail)
    assert repair(text) == (text, [])
    start = text.index("?。?")
    assert (start, start + 3) in garbled_spans(text)


def test_garbled_spans_flags_the_seed_runs() -> None:
    for garbled, _ in SEED_RUNS:
        _, fixes = repair(garbled)
        assert garbled_spans(garbled) == [(fixes[0].start, fixes[0].end)]


def test_repaired_seed_has_only_the_unrepairable_run_flagged() -> None:
    flagged = []
    for para in seed_paragraphs():
        repaired, _ = repair(para)
        flagged += [repaired[start:end] for start, end in garbled_spans(repaired)]
    assert flagged == ["?。?"]


def test_garbled_spans_flags_an_unrepaired_run() -> None:
    # The first run of the seed with its lost byte dropped instead of shown as '?': nothing
    # marks where the bytes went out of step, so it cannot be re-aligned, but it is flagged.
    text = "倍增干勁!彪\ue269菔泄ば啪志珠L孟凡軍表示"
    assert repair(text) == (text, [])
    spans = garbled_spans(text)
    flagged = "".join(text[start:end] for start, end in spans)
    assert "\ue269" in flagged and "ば" in flagged
    assert "孟凡軍表示" not in flagged


def test_clean_seed_paragraphs_are_unchanged_and_not_flagged() -> None:
    garbled = [run for run, _ in SEED_RUNS] + ["趙健?。?"]
    clean = [para for para in seed_paragraphs() if not any(run in para for run in garbled)]
    assert len(clean) == 10
    for para in clean:
        assert repair(para) == (para, [])
        assert garbled_spans(para) == []


CLEAN_TEXTS = [
    # a real question, half-width as in the seed, in traditional and simplified script
    "記者問:“這個項目什麼時候投產?”他回答說,預計明年年底。",
    "你好吗?我很好,谢谢。真的吗?!他说的是实话。",
    "嶧城的石榴好吃嗎?當然好吃!",
    # a Japanese quotation inside Chinese prose
    "日本首相在记者会上说:“ありがとうございます”,并表示将加强合作。",
    "他用日语说了一句「よろしくお願いします」。",
    "東京の大学で学んだ李先生回國後任教。",
    # a private-use code point standing for a rare character, alone
    "村民張\ue000林說,今年的收成不錯。",
    # question marks next to ASCII, digits and letters
    "What?這是2023年的新規定?A股市場怎麼看?@人民日報",
    "价格是多少?100元?还是200元?",
    # stray '?' marks that shifted nothing, before digits and letters (from the benchmark)
    "上证指数1239.901242·211246·?651110·09",
    "用户可以通过?CHINANET上网,也可以收看?TV节目。",
]


@pytest.mark.parametrize("text", CLEAN_TEXTS)
def test_clean_text_is_unchanged(text: str) -> None:
    assert repair(text) == (text, [])


@pytest.mark.parametrize("text", [t for t in CLEAN_TEXTS if "\ue000" not in t])
def test_clean_text_is_not_flagged(text: str) -> None:
    assert garbled_spans(text) == []


def test_lone_private_use_character_is_flagged_alone() -> None:
    text = "村民張\ue000林說,今年的收成不錯。"
    start = text.index("\ue000")
    assert garbled_spans(text) == [(start, start + 1)]


def test_fast_path_returns_the_text_itself() -> None:
    text = seed_paragraphs()[3]
    assert "?" not in text
    repaired, fixes = repair(text)
    assert repaired is text and fixes == []
    assert garbled_spans(text) == []


def test_score_prefers_the_repaired_text() -> None:
    for garbled, expected in SEED_RUNS:
        assert text_score(expected) > text_score(garbled)
        fix = repair(garbled)[1][0]
        assert text_score(fix.after) > text_score(fix.before) + mojibake.MIN_GAIN


def test_module_examples() -> None:
    result = doctest.testmod(mojibake)
    assert result.attempted > 0 and result.failed == 0


# Characters of the seed's garbled runs and their repairs, so that runs are often re-aligned.
RUN_CHARACTERS = st.sampled_from(
    list("?!,@L倍增干勁彪菔泄ば啪志珠" + "孟凡軍\ue269\ufffd。”“滕州市工信局長 ")
)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=RUN_CHARACTERS | st.characters(), max_size=60))
def test_any_text_gives_consistent_results(text: str) -> None:
    repaired, fixes = repair(text)
    rebuilt, done = [], 0
    for fix in fixes:
        assert done <= fix.start < fix.end <= len(text)
        assert text[fix.start : fix.end] == fix.before
        rebuilt += [text[done : fix.start], fix.after]
        done = fix.end
    assert repaired == "".join(rebuilt) + text[done:]
    spans = garbled_spans(text)
    assert spans == sorted(spans)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end < start
    assert all(0 <= start < end <= len(text) for start, end in spans)
