"""Ingestion: reading article files into Documents (search/documents.py)."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.documents import (
    Document,
    DocumentError,
    Skipped,
    clean_text,
    decode,
    is_spam,
    iter_documents,
    list_sources,
    read_document,
)
from search.mojibake import garbled_spans

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED = SEEDS / "000_0c4e82e9c0ffe15d.txt"
SEED_SPAM = (
    "先锋影音资源网每日资源站|国产精品久久福利网站|中文字幕一区二区三区人妻|亚洲国产精品视频2019"
)

SIMPLIFIED_ARTICLE = (
    "我市举行春季植树活动\n\n"
    "四月十日上午，市领导和志愿者一起来到城北公园，种下了两千多棵树苗。"
    "大家分工合作，挖坑、扶苗、填土、浇水，现场气氛十分热烈。\n\n"
    "据介绍，今年全市计划新增绿地三百公顷，进一步改善城市生态环境。\n"
)
TRADITIONAL_ARTICLE = (
    "臺北舉辦國際書展\n\n"
    "第三十屆臺北國際書展今天在世貿中心開幕，吸引了來自四十多個國家的出版社參加。"
    "主辦單位表示，今年的展覽以閱讀與生活為主題，預計參觀人數將超過五十萬人次。\n\n"
    "許多讀者一早就在門口排隊，希望買到喜歡的新書。\n"
)


def write(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write one article file (creating folders) and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode(encoding)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def seed() -> Document:
    return read_document(SEED, "000_0c4e82e9c0ffe15d")


# --- the seed article ---------------------------------------------------------------------------


def test_seed_metadata(seed: Document) -> None:
    assert seed.title == "壓實責任 夯實舉措 奮力實施工業倍增計劃"
    assert seed.subtitle == "全市深化強工興產實施工業倍增動員大會引發熱烈反響"
    assert seed.authors == "劉振江 李卉 耿建存 莊振楠 周楊 湯錦陽 張家維 趙健健".split()
    assert seed.source == "棗莊新聞網"
    assert seed.published == datetime(2023, 4, 19, 9, 39, 36)
    assert seed.editors == ["徐曉偉", "馬園亮"]
    assert seed.encoding == "utf-8"
    assert seed.content_hash == hashlib.sha256(SEED.read_bytes()).hexdigest()


def test_seed_body_spam_and_byline(seed: Document) -> None:
    assert len(seed.paragraphs) == 8
    assert seed.paragraphs[0].startswith("棗莊新聞網訊 4月18日上午")
    assert seed.paragraphs[-1].startswith("棗莊高新區經濟發展局局長崔玉紅說")
    assert seed.spam == [SEED_SPAM]
    everything = "\n".join(seed.paragraphs + [seed.title, seed.subtitle])
    assert "先锋影音" not in everything
    # Bylines are metadata, not body, and keep their text for search.
    assert not any("作者:" in p or "編輯:" in p for p in seed.paragraphs)
    assert len(seed.byline) == 2
    assert seed.byline[0].startswith("作者:劉振江")
    assert "棗莊新聞網 2023-04-19 09:39:36" in seed.byline[0]
    assert seed.byline[1] == "編輯:徐曉偉 責編:馬園亮"


def test_seed_paragraphs_are_the_files_text() -> None:
    # Without mojibake repair (tested in test_repairs.py), ingestion keeps the text verbatim.
    seed = read_document(SEED, "000_0c4e82e9c0ffe15d", repair=False)
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
    start = next(line for line in lines if line.startswith("棗莊新聞網訊"))
    assert seed.paragraphs[0] == start
    # Every body paragraph is a trimmed line of the file; only the last loses its "/span>".
    for paragraph in seed.paragraphs[:-1]:
        assert paragraph in lines
    assert seed.paragraphs[-1] + "/span>" in lines
    assert seed.paragraphs[-1].endswith("趙健?。?")


@pytest.mark.parametrize("repair", [True, False])
def test_garbled_runs_are_found_once_at_ingestion_and_masked(repair: bool) -> None:
    seed = read_document(SEED, "000_0c4e82e9c0ffe15d", repair=repair)
    texts = [seed.header, *seed.paragraphs, seed.title, *seed.authors, seed.source]
    for text in texts:
        masked = seed.masked(text)
        assert len(masked) == len(text)
        spans = garbled_spans(text)
        assert seed.garbled.get(text, ()) == tuple(spans)
        assert [i for i, char in enumerate(masked) if char != text[i]] \
            == [i for start, end in spans for i in range(start, end)]
        assert {masked[i] for start, end in spans for i in range(start, end)} <= {"\ufffd"}
    # The byline's lost byte stays garbled with or without repair; the four byte-shifted runs
    # are garbled only when they are not repaired.
    last = seed.paragraphs[-1]
    assert seed.masked(last).endswith("趙健\ufffd\ufffd\ufffd")
    flagged = [seed.paragraphs.index(text) for text in seed.garbled if text in seed.paragraphs]
    assert sorted(flagged) == ([len(seed.paragraphs) - 1] if repair else [1, 5, 7])
    # Only the garbled characters are masked: the words beside them stay.
    masked = seed.masked(seed.paragraphs[1])
    assert "孟凡軍表示" in masked and "彪" not in masked
    assert seed.masked("a text not of this document") == "a text not of this document"


def test_seed_listed_with_its_doc_id() -> None:
    assert (SEED, "000_0c4e82e9c0ffe15d") in list_sources([SEEDS])


# --- cleaning -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<b>x</b>", "x"),
        ("甲&amp;乙", "甲&乙"),
        ("前<script>alert('x')</script>後", "前後"),
        ("前<style>p {color: red}</style>後", "前後"),
        ("&lt;不是標籤&gt; &#20013;&#x6587;", "<不是標籤> 中文"),
        ('<a href="http://x.cn/?a=1&amp;b=2">連結</a>文字', "連結文字"),
        ("趙健?。?/span>", "趙健?。?"),
        ("壞字\ufffd/SPAN>後", "壞字\ufffd後"),
        ("第一行<br>第二行", "第一行 第二行"),
        ("<p>甲</p><p>乙</p>", "甲 乙 "),
    ],
)
def test_clean_text_removes_html(dirty: str, clean: str) -> None:
    assert clean_text(dirty) == clean


@pytest.mark.parametrize(
    "text",
    [
        "a < b",
        "若 x<y 且 y>z 則 x<z",
        "1<2 and 3>2",
        "AT&T 和 R&D",
        "價格 < 100 元",
        "?/spam> 不是標籤",
        "網址 http://example.com/a/b?c=d 與路徑 /usr/bin>",
        "壓實責任 夯實舉措,“規劃圖”變為“施工圖”。",
    ],
)
def test_clean_text_leaves_ordinary_text_alone(text: str) -> None:
    assert clean_text(text) == text


@given(st.text().filter(lambda text: not set(text) & set("<&>")))
def test_clean_text_never_alters_text_without_markup(text: str) -> None:
    assert clean_text(text) == text


# --- spam ---------------------------------------------------------------------------------------


def test_spam_needs_a_list_of_short_items() -> None:
    title = "壓實責任 夯實舉措 奮力實施工業倍增計劃"
    assert is_spam(SEED_SPAM, title)
    assert is_spam("首頁 | 新聞 | 體育 | 正文", title)
    assert not is_spam("甲隊|乙隊的比賽在週日舉行,雙方打成平手。", title)
    assert not is_spam("比分 | 甲隊 2:1 乙隊", title)
    assert not is_spam("一、二|三、四|五、六", title)  # list punctuation: prose, not names
    assert not is_spam("甲||乙", title)  # an empty item is no list
    long_item = "這是一個很長的項目名稱用來說明長度限制的作用而且還要再長一點才行"
    assert not is_spam(f"{long_item}|{long_item}|{long_item}", title)


def test_paragraph_with_one_bar_is_kept(tmp_path: Path) -> None:
    bar = "本次活动由市文化局|市旅游局联合主办"
    write(tmp_path, "a.txt", f"标题\n\n第一段正文，介绍活动的情况。\n\n{bar}\n")
    doc = read_document(tmp_path / "a.txt", "a")
    assert bar in doc.paragraphs
    assert doc.spam == []


# --- layouts and metadata -----------------------------------------------------------------------


def test_simplified_article_without_bylines(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.txt", SIMPLIFIED_ARTICLE)
    doc = read_document(path, "plain")
    paragraphs = SIMPLIFIED_ARTICLE.strip().split("\n\n")
    assert doc.title == "我市举行春季植树活动"
    assert doc.subtitle == ""  # the second paragraph is a sentence, not a subtitle
    assert doc.paragraphs == paragraphs[1:]
    assert (doc.authors, doc.source, doc.published, doc.editors) == ([], "", None, [])
    assert doc.byline == [] and doc.spam == []


def test_simplified_bylines_with_full_width_colons(tmp_path: Path) -> None:
    text = (
        "我市举行春季植树活动\n\n"
        "来源：新华社　作者：张三、李四，王五　发布时间：2023年4月19日\n\n"
        "记者从市园林局获悉，今年全市计划新增绿地三百公顷。\n\n"
        "记者 赵六\n\n"
        "（责任编辑：孙七）\n"
    )
    doc = read_document(write(tmp_path, "a.txt", text), "a")
    assert doc.subtitle == ""
    assert doc.source == "新华社"
    assert doc.authors == ["张三", "李四", "王五", "赵六"]
    assert doc.editors == ["孙七"]
    assert doc.published == datetime(2023, 4, 19)
    # "记者从..." opens a sentence of the body; it is not a byline.
    assert doc.paragraphs == ["记者从市园林局获悉，今年全市计划新增绿地三百公顷。"]
    assert doc.byline[-1] == "（责任编辑：孙七）"


def test_second_paragraph_alone_is_body_not_subtitle(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "a.txt", "標題\n\n很短的正文\n"), "a")
    assert doc.subtitle == ""
    assert doc.paragraphs == ["很短的正文"]


def test_single_paragraph_is_title_and_body(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "a.txt", "只有一段的文章\n"), "a")
    assert doc.title == "只有一段的文章"
    assert doc.paragraphs == ["只有一段的文章"]


def test_bom_crlf_and_ideographic_spaces(tmp_path: Path) -> None:
    text = (
        "\ufeff標題\r\n\u3000\r\n\u3000\u3000副標題\xa0\r\n\r\n"
        "\u3000\u3000第一段。\r\n\r\n第二段。\r"
    )
    doc = read_document(write(tmp_path, "a.txt", text), "a")
    assert doc.title == "標題"
    assert doc.subtitle == "副標題"
    assert doc.paragraphs == ["第一段。", "第二段。"]


def test_lines_without_blank_lines_are_paragraphs(tmp_path: Path) -> None:
    text = "標題\n作者：張三\n第一段正文。\n第二段正文。\n"
    doc = read_document(write(tmp_path, "a.txt", text), "a")
    assert doc.title == "標題"
    assert doc.authors == ["張三"]
    assert doc.paragraphs == ["第一段正文。", "第二段正文。"]


def test_html_is_cleaned_in_every_paragraph(tmp_path: Path) -> None:
    text = "<h1>標題</h1>\n\n<p>第一段&nbsp;正文。</p>\n\n<br>\n\n第二段<b>正文</b>。\n"
    doc = read_document(write(tmp_path, "a.txt", text), "a")
    assert doc.title == "標題"
    assert doc.paragraphs == ["第一段\xa0正文。", "第二段正文。"]


# --- encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("article", "encoding", "title"), [
    (SIMPLIFIED_ARTICLE, "gb18030", "我市举行春季植树活动"),
    (TRADITIONAL_ARTICLE, "big5", "臺北舉辦國際書展"),
])
def test_legacy_encoded_file(tmp_path: Path, article: str, encoding: str, title: str) -> None:
    path = write(tmp_path, f"{encoding}.txt", article, encoding=encoding)
    doc = read_document(path, encoding)
    assert doc.encoding == encoding
    assert doc.title == title
    assert doc.paragraphs == article.strip().split("\n\n")[1:]


def test_traditional_text_saved_as_gb18030(tmp_path: Path) -> None:
    path = write(tmp_path, "gbk.txt", TRADITIONAL_ARTICLE, encoding="gb18030")
    doc = read_document(path, "gbk")
    assert doc.encoding == "gb18030"
    assert doc.title == "臺北舉辦國際書展"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("國際新聞", "big5"), ("国际新闻", "gb18030"), ("經濟發展", "big5"), ("经济发展", "gb18030")],
)
def test_decode_short_texts(text: str, encoding: str) -> None:
    assert decode(text.encode(encoding)) == (text, encoding)


def test_decode_utf8_drops_bom() -> None:
    assert decode("\ufeff標題".encode()) == ("標題", "utf-8")


# --- bad files ----------------------------------------------------------------------------------


def test_bad_files_are_skipped_and_iteration_continues(tmp_path: Path) -> None:
    write(tmp_path, "a_good.txt", SIMPLIFIED_ARTICLE)
    write(tmp_path, "b_empty.txt", b"")
    write(tmp_path, "c_blank.txt", " \n\u3000\n")
    write(tmp_path, "d_binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path, "e_undecodable.txt", b"\xff\xfe\xfd title \xff\xff")
    (tmp_path / "f_folder.txt").mkdir()
    (tmp_path / "g_dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    write(tmp_path, "h_only_tags.txt", "<br><br>\n\n<p></p>")
    write(tmp_path, "z_good.txt", TRADITIONAL_ARTICLE)

    results = list(iter_documents([tmp_path]))

    assert [type(r).__name__ for r in results] == ["Document"] + ["Skipped"] * 7 + ["Document"]
    reasons = {r.path.name: r.reason for r in results if isinstance(r, Skipped)}
    assert reasons == {
        "b_empty.txt": "empty file",
        "c_blank.txt": "empty file",
        "d_binary.txt": "binary file",
        "e_undecodable.txt": "not UTF-8, GB18030 or Big5 text",
        "f_folder.txt": "unreadable: Is a directory",
        "g_dangling.txt": "unreadable: No such file or directory",
        "h_only_tags.txt": "no text left after removing HTML",
    }
    assert all("\n" not in reason for reason in reasons.values())


def test_read_document_raises_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^unreadable: No such file or directory$"):
        read_document(tmp_path / "missing.txt", "missing")


# --- finding files ------------------------------------------------------------------------------


def test_nested_doc_ids_use_slashes_and_are_sorted(tmp_path: Path) -> None:
    write(tmp_path, "news/2023/b.txt", SIMPLIFIED_ARTICLE)
    write(tmp_path, "news/2023/a.txt", SIMPLIFIED_ARTICLE)
    write(tmp_path, "top.txt", SIMPLIFIED_ARTICLE)
    write(tmp_path, "notes.md", "not an article")
    write(tmp_path, ".git/x.txt", "hidden copy")
    listed = list_sources([tmp_path])
    assert [doc_id for _, doc_id in listed] == ["news/2023/a", "news/2023/b", "top"]
    assert listed[0][0] == tmp_path / "news" / "2023" / "a.txt"
    docs = [d for d in iter_documents([tmp_path]) if isinstance(d, Document)]
    assert [d.doc_id for d in docs] == ["news/2023/a", "news/2023/b", "top"]


def test_duplicate_doc_id_in_later_folder_is_reported(tmp_path: Path) -> None:
    first = write(tmp_path / "one", "same/a.txt", SIMPLIFIED_ARTICLE)
    second = write(tmp_path / "two", "same/a.txt", TRADITIONAL_ARTICLE)
    write(tmp_path / "two", "b.txt", TRADITIONAL_ARTICLE)
    sources = [tmp_path / "one", tmp_path / "two"]

    assert list_sources(sources) == [(first, "same/a"), (tmp_path / "two" / "b.txt", "b")]
    results = list(iter_documents(sources))
    # Folders in the order given, each sorted by doc_id.
    assert [type(r).__name__ for r in results] == ["Document", "Document", "Skipped"]
    skipped = results[2]
    assert isinstance(skipped, Skipped)
    assert skipped.path == second
    assert "duplicate doc_id 'same/a'" in skipped.reason and str(first) in skipped.reason


def test_missing_source_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="source folder not found"):
        list_sources([tmp_path / "nope"])


def test_date_only_paragraph_is_metadata(tmp_path: Path) -> None:
    text = "標題\n\n2023年4月19日 09:39\n\n第一段正文。\n\n第二段正文。\n"
    doc = read_document(write(tmp_path, "a.txt", text), "a")
    assert doc.published == datetime(2023, 4, 19, 9, 39)
    assert doc.byline == ["2023年4月19日 09:39"]
    assert doc.subtitle == ""
    assert doc.paragraphs == ["第一段正文。", "第二段正文。"]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(
            alphabet="作者來源编辑記者:：|｜ \n\u3000<>/&;?2023-04年月日19:39。，標題正文",
            max_size=120,
        ).map(str.encode),
    )
)
def test_any_bytes_give_a_document_or_a_one_line_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "a.txt")
        path.write_bytes(data)
        try:
            doc = read_document(path, "a")
        except DocumentError as error:
            assert str(error) and "\n" not in str(error)
        else:
            assert doc.title and doc.paragraphs
            assert all(p == p.strip() and p for p in doc.paragraphs + doc.byline + doc.spam)
