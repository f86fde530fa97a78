"""The search plans on PostgreSQL: the same requests and answers as FTS5, through tsvector/GIN.

A parsed query becomes two things: a boolean condition (``search @@ q`` per term,
combined with AND/OR/NOT in SQL, so the GIN index serves each term) and one tsquery
of the positive terms for ranking (``ts_rank_cd``) and highlighting (``ts_headline``).
Every term goes through ``phraseto_tsquery`` (or a quoted prefix lexeme), so user
input is never tsquery syntax.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

from sqlalchemy import Double, and_, cast, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session

from storage.models import Article
from storage.query_syntax import And, Node, Not, Or, Term

SEARCH = literal_column("articles.search")
HEADLINE_OPTIONS = (
    'StartSel="\ue000", StopSel="\ue001", MaxWords=30, MinWords=12, MaxFragments=1, '
    'FragmentDelimiter=" … "'
)


def _term(term: Term) -> Any:
    if term.prefix:
        lexeme = "'" + term.text.lower().replace("'", "''") + "':*"
        return func.to_tsquery("simple", lexeme)
    return func.phraseto_tsquery("simple", term.text)


def compile_query(node: Node) -> tuple[Any, Any | None]:
    """(condition, tsquery of the positive terms or None)."""
    if isinstance(node, Term):
        query = _term(node)
        return SEARCH.op("@@")(query), query
    if isinstance(node, Not):
        condition, _query = compile_query(node.child)
        return not_(condition), None
    parts = [compile_query(child) for child in node.children]
    queries = [q for _c, q in parts if q is not None]
    if isinstance(node, Or):
        combined = reduce(lambda a, b: a.op("||")(b), queries) if queries else None
        return or_(*(c for c, _q in parts)), combined
    assert isinstance(node, And)
    combined = reduce(lambda a, b: a.op("&&")(b), queries) if queries else None
    return and_(*(c for c, _q in parts)), combined


def rank(query: Any | None) -> Any:
    """Sort key, ascending like bm25 (best first): minus the cover-density rank.

    As double precision: ts_rank_cd is a float4, whose text form does not round-trip
    through a Python float, and a page cursor must compare exactly equal.
    """
    if query is None:
        return literal_column("0.0")
    return cast(-func.ts_rank_cd(SEARCH, query, 1), Double)


def headlines(session: Session, query: Any | None, ids: list[int]) -> dict[int, str]:
    if query is None or not ids:
        return {}
    rows = session.execute(
        select(Article.id, func.ts_headline("simple", Article.text, query, HEADLINE_OPTIONS)).where(
            Article.id.in_(ids)
        )
    )
    return {article_id: text for article_id, text in rows}
