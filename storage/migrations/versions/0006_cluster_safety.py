"""Several daemons on one database: the database, not a check, keeps articles unique.

A content hash becomes unique (older duplicates keep theirs only on the first
copy, so the index can be built), and sources get an index on when they are
next due, which is what every worker's claim query reads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE articles SET content_hash = NULL WHERE content_hash IS NOT NULL AND id > "
        "(SELECT min(a.id) FROM articles a WHERE a.content_hash = articles.content_hash)"
    )
    op.drop_index("ix_articles_content_hash", table_name="articles")
    op.create_index("ix_articles_content_hash", "articles", ["content_hash"], unique=True)
    op.create_index("ix_sources_due", "sources", ["next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_sources_due", table_name="sources")
    op.drop_index("ix_articles_content_hash", table_name="articles")
    op.create_index("ix_articles_content_hash", "articles", ["content_hash"])
