"""PostgreSQL full text: a generated, GIN-indexed tsvector over title (weight A) and text (B).

The 'simple' configuration lowercases without stemming or stop words, so Japanese,
Indonesian and English terms all match as written, like FTS5's unicode61 tokenizer.
SQLite keeps its FTS5 table; this revision does nothing there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:05:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
        "setweight(to_tsvector('simple', coalesce(text, '')), 'B')) STORED"
    )
    op.execute("CREATE INDEX ix_articles_search ON articles USING GIN (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_articles_search")
    op.execute("ALTER TABLE articles DROP COLUMN search")
