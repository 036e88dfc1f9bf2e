"""The ``zhsearch`` command, run in real subprocesses: summaries, exit status, one-line errors."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import opencc
import pytest

from search.config import load_settings
from search.index import BUILDS, build
from search.query import ResultPage, Searcher
from tests.conftest import SEED, SEED_ID, fill_disk, total_hits, zhsearch_env

Run = Callable[..., subprocess.CompletedProcess[str]]

SUMMARY = re.compile(
    r"^(?P<verb>built|updated) (?P<index>.+): (?P<documents>\d+) documents, "
    r"(?P<paragraphs>\d+) paragraphs, (?P<skipped>\d+) skipped, (?P<spam>\d+) spam removed, "
    r"\d+ repaired, (?P<seconds>\d+\.\d\d) s, (?P<rate>[\d,]+) characters/s$")



def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> str:
    """Assert a failure with one ``Error:`` line saying ``fragment`` and no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    # Parallel workers that hit the same fault may each say so in one line of their own.
    assert all(line.startswith("indexing worker ") for line in lines[:-1]), lines
    assert lines[-1].startswith("Error: ") and fragment in lines[-1], lines
    return lines[-1]


# --- build ------------------------------------------------------------------------------------


def test_build_prints_a_summary_and_the_skipped_files(zhsearch: Run, seed_copy: Path,
                                                     tmp_path: Path) -> None:
    (seed_copy / "empty.txt").write_bytes(b"")
    index_dir = tmp_path / "index"
    result = zhsearch("build", "--source", str(seed_copy), "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = SUMMARY.match(result.stdout.strip().splitlines()[-1])
    assert summary, result.stdout
    assert summary["verb"] == "built" and summary["index"] == str(index_dir)
    assert (summary["documents"], summary["paragraphs"], summary["skipped"], summary["spam"]) \
        == ("1", "8", "1", "1")
    assert float(summary["seconds"]) > 0 and int(summary["rate"].replace(",", "")) > 0
    assert re.search(rf"^skipped {re.escape(str(seed_copy / 'empty.txt'))}: \S", result.stderr,
                     re.M)
    assert f"spam left out of {SEED_ID}: " in result.stderr
    assert total_hits(index_dir) > 0


def _empty_source(tmp_path: Path, seed_copy: Path) -> tuple[list[str], str]:
    source = tmp_path / "empty"
    source.mkdir()
    return ["--source", str(source)], "nothing to index"


def _bad_files_only(tmp_path: Path, seed_copy: Path) -> tuple[list[str], str]:
    source = tmp_path / "bad"
    source.mkdir()
    (source / "empty.txt").write_bytes(b"")
    (source / "binary.txt").write_bytes(bytes(range(256)))
    return ["--source", str(source)], "nothing to index"


def _missing_source(tmp_path: Path, seed_copy: Path) -> tuple[list[str], str]:
    return ["--source", str(tmp_path / "no-such-folder")], "source folder not found"


def _file_at_index_path(tmp_path: Path, seed_copy: Path) -> tuple[list[str], str]:
    (tmp_path / "index").write_text("a file", encoding="utf-8")
    return ["--source", str(seed_copy)], "is a file, not an index folder"


def _foreign_folder(tmp_path: Path, seed_copy: Path) -> tuple[list[str], str]:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "notes.md").write_text("mine", encoding="utf-8")
    return ["--source", str(seed_copy)], "not a zhsearch index"


@pytest.mark.parametrize("case", [_empty_source, _bad_files_only, _missing_source,
                                  _file_at_index_path, _foreign_folder],
                         ids=lambda case: case.__name__.strip("_"))
def test_build_that_cannot_index_fails_in_one_line(
        zhsearch: Run, seed_copy: Path, tmp_path: Path,
        case: Callable[[Path, Path], tuple[list[str], str]]) -> None:
    index_dir = tmp_path / "index"
    args, fragment = case(tmp_path, seed_copy)
    before = sorted(index_dir.rglob("*")) if index_dir.is_dir() else None
    _one_line_error(zhsearch("build", *args, "--index", str(index_dir)), fragment)
    if before is not None:  # someone else's folder: left exactly as it was
        assert sorted(index_dir.rglob("*")) == before
    if args[-1].endswith("no-such-folder") or case is _file_at_index_path:
        assert not (index_dir / BUILDS).exists()


def test_build_into_an_immutable_folder_fails_in_one_line(
        zhsearch: Run, live_index: Path, seed_copy: Path, make_immutable) -> None:  # noqa: ANN001
    before = total_hits(live_index)
    builds = sorted((live_index / BUILDS).iterdir())
    make_immutable(live_index)
    result = zhsearch("build", "--source", str(seed_copy), "--index", str(live_index))
    _one_line_error(result, "Operation not permitted")
    assert sorted((live_index / BUILDS).iterdir()) == builds
    assert total_hits(live_index) == before


def test_build_and_update_on_a_read_only_mount_fail_in_one_line(
        zhsearch: Run, live_index: Path, seed_copy: Path, read_only_view) -> None:  # noqa: ANN001
    view = read_only_view(live_index)
    before = total_hits(view)
    for command in ("build", "update"):
        result = zhsearch(command, "--source", str(seed_copy), "--index", str(view))
        _one_line_error(result, "Read-only file system")
    assert total_hits(view) == before


def test_build_on_a_full_disk_fails_in_one_line_and_keeps_the_live_index(
        zhsearch: Run, index_dir: Path, twelve_seed_copies: Path, tiny_disk: Path) -> None:
    live = tiny_disk / "index"
    shutil.copytree(index_dir, live)
    fill_disk(tiny_disk)
    before = total_hits(live)
    builds = sorted((live / BUILDS).iterdir())
    # Default --procs: on two cores or more the parallel workers meet the full disk too. Warnings
    # keep their default: Whoosh leaves the files of a writer that failed half-way to the
    # garbage collector, which reports them as ResourceWarnings when they are errors.
    result = zhsearch("build", "--source", str(twelve_seed_copies), "--index", str(live),
                      warnings_as_errors=False)
    _one_line_error(result, "No space left on device")
    assert sorted((live / BUILDS).iterdir()) == builds
    assert total_hits(live) == before


# --- query ------------------------------------------------------------------------------------


def test_query_json_is_the_result_page_the_api_serves(zhsearch: Run, index_dir: Path,
                                                      searcher: Searcher) -> None:
    result = zhsearch("query", "棗莊", "--json", "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    expected = searcher.search("棗莊").to_dict()
    # Every field of a result page; facets only when asked for.
    assert set(printed) == set(expected) == set(ResultPage.__dataclass_fields__) - {"facets"}
    printed.pop("took_ms"), expected.pop("took_ms")
    assert printed == expected
    assert printed["total"] > 0 and printed["hits"][0]["doc_id"]


def test_query_prints_matches_as_text(zhsearch: Run, index_dir: Path, searcher: Searcher) -> None:
    result = zhsearch("query", "棗莊", "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    total = searcher.search("棗莊").total
    assert result.stdout.startswith(f"{total} paragraphs match (")
    assert "棗莊" in result.stdout and "<mark>" not in result.stdout


ANSI_MARK = re.compile("\x1b\\[1;31m(.*?)\x1b\\[0m")
ANSI_CODE = re.compile("\x1b\\[[0-9;]*m")


def test_query_marks_matches_in_colour_when_asked_and_never_when_piped(
        zhsearch: Run, index_dir: Path, searcher: Searcher) -> None:
    query = ("query", "工业倍增计划", "--per-page", "5", "--index", str(index_dir))
    coloured = zhsearch(*query, "--color", "always")
    assert coloured.returncode == 0, coloured.stderr
    hits = searcher.search("工业倍增计划", per_page=5).hits
    # Each mark wraps exactly a span the highlighter found, in order (the HTML marks the same).
    assert ANSI_MARK.findall(coloured.stdout) == [m for h in hits for m in h.snippet.marked()]
    assert [m for h in hits for m in h.snippet.marked()] == \
        [html.unescape(m) for h in hits for m in re.findall("<mark>(.*?)</mark>", h.highlight)]
    assert "工業倍增計劃" in ANSI_MARK.findall(coloured.stdout)
    for plain in (zhsearch(*query, "--color", "never"), zhsearch(*query)):  # piped: auto
        assert plain.returncode == 0, plain.stderr
        assert "\x1b" not in plain.stdout
        # The same text, without the codes (the first line holds the time taken).
        assert plain.stdout.splitlines()[1:] == \
            ANSI_CODE.sub("", coloured.stdout).splitlines()[1:]


def test_query_explain_prints_each_hits_tier_and_signals(zhsearch: Run, index_dir: Path,
                                                        searcher: Searcher) -> None:
    result = zhsearch("query", "施工", "--explain", "--per-page", "50", "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    hits = searcher.search("施工", per_page=50, explain=True).hits
    totals = re.findall(r"^  score (\S+), tier (\d)", result.stdout, re.M)
    assert [(float(score), int(tier)) for score, tier in totals] == \
        [(h.score, h.explanation.tier) for h in hits]
    assert {1, 2} <= {h.explanation.tier for h in hits}
    signals = re.findall(r"^    \+ \S+  (\w+) ", result.stdout, re.M)
    assert signals == [s.name for h in hits for s in h.explanation.signals]
    as_json = zhsearch("query", "施工", "--explain", "--json", "--index", str(index_dir))
    printed = json.loads(as_json.stdout)["hits"]
    expected = searcher.search("施工", explain=True).to_dict()["hits"]
    assert [h["explain"] for h in printed] == [h["explain"] for h in expected]


@pytest.mark.parametrize(("query", "fragment"), [
    ("-棗莊", "the query only excludes"),
    ("棗" * 500, "the query is too long"),
])
def test_refused_query_is_a_one_line_error(zhsearch: Run, index_dir: Path, query: str,
                                           fragment: str) -> None:
    result = zhsearch("query", "--index", str(index_dir), "--", query)  # "--": "-棗莊" is text
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {fragment}") and result.stderr.count("\n") == 1


def test_query_without_an_index_is_a_one_line_error(zhsearch: Run, tmp_path: Path) -> None:
    result = zhsearch("query", "棗莊", "--index", str(tmp_path / "nothing-here"))
    assert result.returncode == 1
    assert result.stderr == f"Error: no index at {tmp_path / 'nothing-here'}: run 'zhsearch " \
                            "build' first\n"


@pytest.mark.parametrize("option", ["--page", "--per-page"])
def test_page_zero_is_a_usage_error(zhsearch: Run, index_dir: Path, option: str) -> None:
    result = zhsearch("query", "棗莊", option, "0", "--index", str(index_dir))
    assert result.returncode == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_zhsearch_help_lists_the_commands(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "zhsearch", "--help"], capture_output=True,
                            text=True, cwd=tmp_path, env=zhsearch_env(), timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    for command in ("build", "update", "query", "serve"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


# --- update -----------------------------------------------------------------------------------


def test_update_reports_what_changed_and_then_nothing(zhsearch: Run, seed_copy: Path,
                                                      tmp_path: Path) -> None:
    (seed_copy / "gone.txt").write_text("將刪除\n\n這篇將被刪除。\n", encoding="utf-8")
    (seed_copy / "edited.txt").write_text("將修改\n\n這篇將被修改。\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build([seed_copy], index_dir, procs=1)
    (seed_copy / "gone.txt").unlink()
    (seed_copy / "edited.txt").write_text("已修改\n\n這篇已經改寫為瀑布觀測站。\n",
                                          encoding="utf-8")
    (seed_copy / "new.txt").write_text("新文\n\n新增一篇關於沙漠氣象站。\n", encoding="utf-8")
    (seed_copy / "broken.txt").write_bytes(b"")
    args = ("update", "--source", str(seed_copy), "--index", str(index_dir))

    first = zhsearch(*args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0] == "added 1, changed 1, removed 1"
    summary = SUMMARY.match(lines[-1])
    assert summary and summary["verb"] == "updated"
    assert (summary["documents"], summary["skipped"]) == ("2", "1")
    assert re.search(rf"^skipped {re.escape(str(seed_copy / 'broken.txt'))}: \S", first.stderr,
                     re.M)
    for query, total in [("瀑布觀測站", 1), ("沙漠氣象站", 1), ("將被刪除", 0), ("將被修改", 0)]:
        assert total_hits(index_dir, query) == total, query

    again = zhsearch(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "added 0, changed 0, removed 0"


def test_update_without_an_index_is_a_one_line_error(zhsearch: Run, seed_copy: Path,
                                                     tmp_path: Path) -> None:
    result = zhsearch("update", "--source", str(seed_copy), "--index", str(tmp_path / "index"))
    _one_line_error(result, "run 'zhsearch build' first")
    assert not (tmp_path / "index").exists()



def test_update_without_source_uses_the_folders_the_index_was_built_from(
        zhsearch: Callable[..., subprocess.CompletedProcess[str]], seed_copy: Path,
        tmp_path: Path) -> None:
    index_dir = str(tmp_path / "index")
    assert zhsearch("build", "--source", str(seed_copy), "--index", index_dir,
                    "--procs", "1").returncode == 0
    (seed_copy / "extra.txt").write_text("瀑布觀測站\n\n瀑布觀測站今日啟用。\n", encoding="utf-8")
    # tmp_path has no seeds/: the recorded source folder is used and nothing is removed.
    done = zhsearch("update", "--index", index_dir)
    assert done.returncode == 0, done.stderr
    assert "added 1, changed 0, removed 0" in done.stdout


def test_query_groups_stories_sorted_newest(zhsearch: Run, tmp_path: Path) -> None:
    source, index = tmp_path / "source", tmp_path / "index"
    source.mkdir()
    shutil.copyfile(SEED, source / SEED.name)
    seed = SEED.read_text(encoding="utf-8")
    repost = opencc.OpenCC("t2s").convert(seed.replace("2023-04-19 09:39:36", "2023-04-20 10:00"))
    (source / "repost.txt").write_text("转载｜" + repost.replace("枣庄新闻网", "人民网"),
                                       encoding="utf-8")
    build([source], index, procs=1)
    options = ("--group", "story", "--sort", "newest", "--facets", "source,month",
               "--index", str(index))

    printed = zhsearch("query", "工业倍增", *options, "--json")
    text = zhsearch("query", "工业倍增", *options)
    refused = zhsearch("query", "工业倍增", "--facets", "author", "--index", str(index))

    assert printed.returncode == 0, printed.stderr
    searcher = Searcher(index, load_settings({}))
    expected = searcher.search("工业倍增", group="story", sort="newest",
                               facets=["source", "month"]).to_dict()
    searcher.close()
    body = json.loads(printed.stdout)
    body.pop("took_ms"), expected.pop("took_ms")
    assert body == expected
    assert body["total"] == 1 and body["hits"][0]["doc_id"] == SEED.stem
    assert [c["doc_id"] for c in body["hits"][0]["copies"]] == ["repost"]
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("1 stories match (")
    assert "source: 人民网 1, 棗莊新聞網 1\nmonth: 2023-04 1\n" in text.stdout
    assert "also published by: 人民网 (2023-04-20T10:00:00)" in text.stdout
    assert refused.returncode == 2 and "'author' is not one of source, month" in refused.stderr
