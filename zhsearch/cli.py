"""The ``zhsearch`` command: a thin click layer over the library.

Each command calls one library function; library errors become one-line messages and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from search import (
    FACETS,
    GROUPS,
    SORTS,
    BuildReport,
    Document,
    Explanation,
    SearchError,
    Settings,
    engines,
    iter_documents,
    load_settings,
)

_INTERRUPTED = "interrupted; the live index is unchanged"


def _settings(index: Path | None, sources: tuple[Path, ...] = (),
              repair: bool | None = None) -> Settings:
    """The library's settings (defaults, ``ZHSEARCH_*``), with the options given on top."""
    try:
        return load_settings(index_dir=index, sources=sources or None, repair_mojibake=repair)
    except SearchError as e:
        raise click.ClickException(str(e)) from None


@click.group()
@click.version_option(package_name="zhsearch")
def main() -> None:
    """Full-text search for Chinese news articles, in either script."""


_index_option = click.option("--index", "index", type=click.Path(path_type=Path),
                             help="Index folder (default: index/, or ZHSEARCH_INDEX_DIR).")
_source_option = click.option("--source", "sources", multiple=True,
                              type=click.Path(path_type=Path),
                              help="Folder of .txt articles; repeatable (default: seeds/).")


_repair_option = click.option("--repair/--no-repair", default=None,
                              help="Repair byte-shifted mojibake (default: on, or "
                                   "ZHSEARCH_REPAIR_MOJIBAKE).")


@main.command("build")
@_source_option
@_index_option
@click.option("--procs", type=click.IntRange(1, 64), default=None,
              help="Worker processes that read and index (default: one per core).")
@_repair_option
def build_command(sources: tuple[Path, ...], index: Path | None, procs: int | None,
                  repair: bool | None) -> None:
    """Build a new index from the articles and switch to it atomically."""
    settings = _settings(index, sources, repair)
    try:
        report = engines.build(settings, procs=procs, progress=sys.stderr.isatty())
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        raise click.ClickException(_INTERRUPTED) from None
    _summary(report, "built")


@main.command("update")
@_source_option
@_index_option
@_repair_option
def update_command(sources: tuple[Path, ...], index: Path | None, repair: bool | None) -> None:
    """Re-index only the articles added, changed or removed since the last build."""
    settings = _settings(index, sources, repair)
    try:
        # Without --source (or ZHSEARCH_SOURCES) sources is None: the folders of the index.
        report = engines.update(settings)
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        raise click.ClickException(_INTERRUPTED) from None
    click.echo(f"added {len(report.added)}, changed {len(report.changed)}, "
               f"removed {len(report.removed)}")
    change = report.dictionary
    if change is not None:
        listed = "; ".join(f"{what} {', '.join(words[:5])}{' ...' if len(words) > 5 else ''}"
                           for what, words in (("added", change.added),
                                               ("changed", change.changed),
                                               ("removed", change.removed)) if words)
        click.echo(f"user dictionary: {listed}; {change.paragraphs} paragraphs hold these "
                   f"words and were cut again: {len(change.articles)} articles indexed again "
                   f"({change.records} records), nothing else")
    _summary(report, "updated")


def _summary(report: BuildReport, verb: str) -> None:
    for skipped in report.skipped:
        click.echo(f"skipped {skipped.where}: {skipped.reason}", err=True)
    for dropped in report.dropped:
        click.echo(f"field left out at {dropped.where}: {dropped.reason}", err=True)
    for doc_id, paragraph in report.spam:
        click.echo(f"spam left out of {doc_id}: {paragraph[:60]}", err=True)
    for doc_id, repair in report.repairs:
        click.echo(f"repaired {doc_id} paragraph {repair.paragraph}: "
                   f"{repair.before!r} -> {repair.after!r} (score {repair.score:.2f})", err=True)
    click.echo(
        f"{verb} {report.index_dir}: {report.documents} documents, {report.paragraphs} "
        f"paragraphs, {len(report.skipped)} skipped, "
        + (f"{len(report.dropped)} fields left out, " if report.dropped else "")
        + f"{len(report.spam)} spam removed, "
        f"{len(report.repairs)} repaired, {report.seconds:.2f} s, "
        f"{report.characters_per_second:,.0f} characters/s")


@main.command("repairs")
@_source_option
def repairs_command(sources: tuple[Path, ...]) -> None:
    """List, as JSON, the mojibake repairs a build makes (the files are not changed)."""
    settings = _settings(None, sources)
    try:
        listing = [
            {"doc_id": item.doc_id, "paragraph": r.paragraph, "before": r.before,
             "after": r.after, "score": r.score}
            for item in iter_documents(settings.build_sources) if isinstance(item, Document)
            for r in item.repairs
        ]
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(listing, ensure_ascii=False, indent=2))


@main.command("query")
@click.argument("text")
@_index_option
@click.option("--page", type=click.IntRange(min=1), default=1)
@click.option("--per-page", type=click.IntRange(min=1), default=None,
              help="Hits per page (default: ZHSEARCH_PER_PAGE, 10).")
@click.option("--group", type=click.Choice(GROUPS), default="paragraph", show_default=True,
              help="A hit is a paragraph, an article, or a story (an article and its reposts).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True,
              help="Undated articles come last in every order.")
@click.option("--facets", default="", metavar="LIST",
              help="Comma list of source and month: counts over every result.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON the web API serves.")
@click.option("--explain", is_flag=True,
              help="Say how each hit's score was made: its tier and every signal.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="Mark matches in colour (auto: on a terminal, unless NO_COLOR is set).")
@click.option("--regional/--no-regional", default=True, show_default=True,
              help="Also search each word's other regions' forms (软件: 軟體).")
def query_command(text: str, index: Path | None, page: int, per_page: int | None,
                  group: str, sort: str, facets: str, as_json: bool, explain: bool,
                  color: str, regional: bool) -> None:
    """Search the index and print the matching paragraphs, articles or stories."""
    settings = _settings(index)
    names = [name.strip() for name in facets.split(",") if name.strip()]
    unknown = [name for name in names if name not in FACETS]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(FACETS)}",
                                 param_hint="'--facets'")
    try:
        searcher = engines.open_searcher(settings)
        results = searcher.search(text, page=page, per_page=per_page, explain=explain,
                                  regional=regional, group=group, sort=sort,
                                  facets=names)
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(results.to_dict(), ensure_ascii=False, indent=2))
        return
    colored = color == "always" or (color == "auto" and sys.stdout.isatty()
                                    and "NO_COLOR" not in os.environ)
    units = {"paragraph": "paragraphs", "article": "articles", "story": "stories"}[group]
    click.echo(f"{results.total} {units} match ({results.took_ms:.1f} ms)")
    for name, counts in (results.facets or {}).items():
        listed = ", ".join(f"{value} {count}" for value, count in counts)
        click.echo(f"{name}: {listed or '-'}")
    if results.expanded:
        click.echo("also searched: " + ", ".join(
            f"{e['to']} (for {e['from']})" for e in results.expanded))
    if results.did_you_mean:
        click.echo(f"did you mean: {results.did_you_mean}")
    for hit in results.hits:
        where = "title" if hit.paragraph == 0 else f"paragraph {hit.paragraph}"
        dated = ", ".join(part for part in (hit.source, hit.published or "") if part)
        click.echo(click.style(f"\n{hit.title}", bold=True) + f"  [{hit.doc_id}, {where}]"
                   + (f"  {dated}" if dated else ""), color=colored)
        click.echo(hit.snippet.terminal(color=colored), color=colored)
        for match in hit.matches or ():
            click.echo(f"  paragraph {match.paragraph}: "
                       + match.snippet.terminal(color=colored), color=colored)
        if hit.copies:
            click.echo("  also published by: " + "; ".join(
                f"{c.source or c.doc_id} ({c.published or 'undated'})" for c in hit.copies))
        if hit.explanation is not None:
            click.echo(_explanation(hit.explanation))


def _explanation(explanation: Explanation) -> str:
    """A hit's explanation as lines of text: the total, then one line per signal."""
    through = ", through an alternative" if explanation.alternative else ""
    lines = [f"  score {explanation.score:g}, tier {explanation.tier}{through} "
             f"(BM25 k1 {explanation.k1:g}, b {explanation.b:g})"]
    for signal in explanation.signals:
        seen = "".join(f", {name} {value:.4g}" for name, value in (
            ("tf", signal.tf), ("df", signal.df), ("idf", signal.idf), ("length", signal.length),
            ("average length", signal.average_length)) if value is not None)
        lines.append(f"    + {signal.value:.4f}  {signal.name} {signal.term} "
                     f"(weight {signal.weight:g}{seen})")
    return "\n".join(lines)


@main.command("serve")
@_index_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
def serve_command(index: Path | None, host: str, port: int) -> None:
    """Serve the web pages and JSON API with a production WSGI server (waitress)."""
    from web.serve import serve

    serve(_settings(index), host=host, port=port)
