"""Indexes that keep search fast at millions of articles: the (date, id) sort key and language.

Search without a text query walks ``coalesce(published_at, fetched_at), id`` newest
first and stops after a page; date-sorted text queries with many matches do the
same. Without the index both sorted the whole archive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_articles_when", "articles", [sa.text("coalesce(published_at, fetched_at)"), "id"]
    )
    op.create_index("ix_articles_language", "articles", ["language"])
    # Every date query goes through ix_articles_when now; this one only slowed inserts.
    op.drop_index("ix_articles_published_at", table_name="articles")  # no table rebuild
    if op.get_bind().dialect.name == "sqlite":
        # Merge FTS5 segments in larger steps: ~15% faster ingest, searches unchanged (measured
        # with bench/search.py at 200,000 articles).
        op.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES('automerge', 8)")


def downgrade() -> None:
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES('automerge', 4)")
    op.drop_index("ix_articles_language", table_name="articles")
    op.drop_index("ix_articles_when", table_name="articles")
