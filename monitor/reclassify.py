"""Re-tagging the archive after the rules change, in bounded memory.

Articles are read in id order, a batch at a time, each batch in its own
transaction: a long re-tag never holds the write lock for long, and the daemon
can keep storing new articles in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from monitor.rules import Classifier, Document
from storage.articles import replace_tags
from storage.db import Archive
from storage.models import Article

BATCH = 200


@dataclass
class Summary:
    articles: int = 0
    added: int = 0
    removed: int = 0
    updated: int = 0


def reclassify(
    archive: Archive,
    classifier: Classifier,
    *,
    since: datetime | None = None,
    topics: set[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Summary:
    summary = Summary()
    where = [Article.fetched_at >= since] if since else []
    with archive.reader() as session:
        total = session.execute(
            select(func.count()).select_from(Article).where(*where)
        ).scalar_one()
    last_id = 0
    while True:
        with archive.session() as session:
            batch = (
                session.execute(
                    select(Article)
                    .where(Article.id > last_id, *where)
                    .order_by(Article.id)
                    .limit(BATCH)
                )
                .scalars()
                .all()
            )
            if not batch:
                break
            now = datetime.now(UTC)
            for article in batch:
                tags = classifier.classify(Document(article.title, article.text, article.language))
                wanted = [(t.topic, t.score, t.to_json()) for t in tags]
                if topics is not None:
                    keep = [
                        (t.topic, t.score, t.explanation)
                        for t in article.tags
                        if t.topic not in topics
                    ]
                    wanted = [w for w in wanted if w[0] in topics] + keep
                before = {t.topic for t in article.tags}
                added, removed = replace_tags(session, article, wanted, now)
                summary.added += len(added)
                summary.removed += len(removed)
                summary.updated += len(before - removed)
            summary.articles += len(batch)
            last_id = batch[-1].id
        if on_progress:
            on_progress(summary.articles, total)
    return summary
