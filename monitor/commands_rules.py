"""Commands around the topic rules: classify, rules check, rules eval, reclassify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.cli import ConfigOpt, DbOpt, app, exit_on_rule_errors, open_config, parse_when
from monitor.errors import ConfigError, NewsmonError
from monitor.rules import Document, compile_rules, evaluate

rules_app = typer.Typer(help="Check and measure the topic rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
out = Console()
err = Console(stderr=True)


@rules_app.command("check")
def rules_check(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Parse every topic's query; each error names the topic and column with a caret."""
    cfg = open_config(config, db)
    exit_on_rule_errors(cfg)
    typer.echo(f"{len(cfg.topics)} topics ok")


@app.command("classify")
def classify_command(
    text: Annotated[str | None, typer.Option(help="The document text.")] = None,
    file: Annotated[Path | None, typer.Option(help="A text or HTML file.")] = None,
    url: Annotated[str | None, typer.Option(help="Fetch this page and extract it first.")] = None,
    title: Annotated[str, typer.Option(help="A title, with --text or --file.")] = "",
    lang: Annotated[str | None, typer.Option(help="ISO 639-1 language of the document.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Show how every topic judges one document: tags, scores and the terms that matched.

    Example: newsmon classify --title "EU-Japan summit" --text "Leaders met in Tokyo."
    """
    if sum(x is not None for x in (text, file, url)) != 1:
        raise NewsmonError("give exactly one of --text, --file or --url")
    cfg = open_config(config, db)
    doc = _document(text, file, url, title, lang, cfg)
    results = compile_rules(cfg.topics).explain(doc)
    if fmt == "json":
        payload = [
            {"topic": r.topic, "tagged": r.tagged, "score": round(r.score, 3), "reason": r.reason,
             "hits": [{"term": h.term, "field": h.field, "start": h.start, "end": h.end,
                       "matched": h.matched} for h in r.hits]}
            for r in results
        ]  # fmt: skip
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=1))
        return
    table = Table(title=escape(doc.title or "(untitled)"))
    for column in ("topic", "tagged", "score", "why", "matched terms"):
        table.add_column(column, overflow="fold")
    for r in results:
        terms = ", ".join(
            dict.fromkeys(f"{h.term}→{h.matched!r} ({h.field}@{h.start})" for h in r.hits)
        )
        table.add_row(
            r.topic, "yes" if r.tagged else "no", f"{r.score:.2f}", r.reason, escape(terms)
        )
    out.print(table)


def _document(text, file, url, title, lang, cfg) -> Document:
    if text is not None:
        return Document(title, text, lang)
    if file is not None:
        try:
            body = file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise NewsmonError(f"{file}: {exc.strerror}") from exc
        if "<html" in body[:2000].lower():
            from spiders.extract import extract_page

            page = extract_page(body, file.resolve().as_uri())
            return Document(title or page.title, page.text, lang or page.language)
        return Document(title, body, lang)
    return _fetch_document(url, cfg, title, lang)


def _fetch_document(url: str, cfg, title: str, lang: str | None) -> Document:
    """Fetch through the real pipeline into a throwaway archive, then read it back."""
    import tempfile

    from monitor.poller import Monitor
    from spiders.crawl import run
    from storage.models import Article

    with tempfile.TemporaryDirectory() as tmp:
        scratch = cfg.model_copy(update={"sources": []}).with_storage_url(f"sqlite:///{tmp}/c.db")
        monitor = Monitor(scratch)
        try:
            names = monitor.adhoc_sources([url], kind="page")
            reports = run(lambda: monitor.poll(names))
            with monitor.archive.reader() as session:
                article = session.query(Article).order_by(Article.id).first()
                if article is None:
                    reason = reports[0].error if reports else "nothing stored"
                    raise NewsmonError(f"{url}: no article could be read ({reason})")
                return Document(title or article.title, article.text, lang or article.language)
        finally:
            monitor.close()


@rules_app.command("eval")
def rules_eval(
    labels: Annotated[Path, typer.Argument(help="JSON lines: id, title, text, labels.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    show_errors: Annotated[
        bool, typer.Option("--show-errors", help="List misclassified ids.")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Precision, recall and F1 of each topic on a labelled file.

    Example: newsmon rules eval ../shared/eval/classify/dev.jsonl --format json
    """
    cfg = open_config(config, db)
    report = evaluate(compile_rules(cfg.topics), labels)
    if fmt == "json":
        payload = report.to_json()
        if show_errors:
            payload["errors"] = [e.__dict__ for e in report.errors]
        typer.echo(json.dumps(payload))
        return
    if fmt != "table":
        raise ConfigError("--format must be table or json")
    table = Table(title=f"{labels} — {report.items} items")
    for column in ("topic", "tp", "fp", "fn", "precision", "recall", "f1"):
        table.add_column(column, justify="right" if column != "topic" else "left")
    rows = {**report.to_json()["topics"], "micro": report.to_json()["micro"]}
    for name, c in rows.items():
        table.add_row(name, str(c["tp"]), str(c["fp"]), str(c["fn"]),
                      f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}")  # fmt: skip
    out.print(table)
    if show_errors:
        for miss in report.errors:
            kind = "missed" if miss.expected else "false tag"
            out.print(f"{miss.id} {miss.topic}: {kind} — {escape(miss.explanation)}")


@app.command("reclassify")
def reclassify_command(
    since: Annotated[
        str | None, typer.Option(help="Only articles fetched since (7d, DATE).")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Only these topics.")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Re-tag the stored archive after the rules changed; tags that no longer match go.

    Streams the archive in batches, so memory stays flat however large it is.
    """
    from rich.progress import Progress

    from monitor.reclassify import reclassify
    from storage.db import Archive

    cfg = open_config(config, db)
    classifier = compile_rules(cfg.topics)
    unknown = set(topic or ()) - set(classifier.topics)
    if unknown:
        raise ConfigError(f"unknown topic(s): {', '.join(sorted(unknown))}")
    archive = Archive(cfg.resolve_storage_url())
    try:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("reclassifying", total=None)
            summary = reclassify(
                archive, classifier, since=parse_when(since, option="--since"),
                topics=set(topic) if topic else None,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    finally:
        archive.close()
    typer.echo(
        f"{summary.articles} articles: {summary.added} tags added, {summary.removed} removed, "
        f"{summary.updated} rescored"
    )
