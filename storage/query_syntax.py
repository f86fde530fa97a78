"""The archive's search syntax, parsed once and rendered for each backend.

Users type ``nickel AND (Indonesia OR "Sulawesi smelter") NOT tesla*``. Raw input
must never reach FTS5's MATCH (a stray ``"`` raises) or PostgreSQL's tsquery, so
the query is parsed here into a small tree, every term is quoted on the way out,
and a malformed query becomes a :class:`QuerySyntaxError` naming the column.

Grammar (NOT binds tightest, then AND, then OR; juxtaposition is AND)::

    query  := or
    or     := and ("OR" and)*
    and    := unary (["AND"] unary)*
    unary  := "NOT" unary | "-" atom | atom
    atom   := WORD | WORD* | "PHRASE" | "(" or ")"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import NewsmonError


class QuerySyntaxError(NewsmonError, ValueError):
    def __init__(self, message: str, query: str, column: int) -> None:
        self.column = column
        super().__init__(
            f"search query, column {column}: {message}\n  {query}\n  {' ' * (column - 1)}^"
        )


@dataclass(frozen=True)
class Term:
    text: str
    prefix: bool = False
    phrase: bool = False


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Not | And | Or
_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<phrase>"[^"]*"?)|(?P<word>[^\s()"]+))')
_WORD_CHARS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def parse_query(query: str) -> Node | None:
    """The tree of ``query``; None for an empty query (list everything)."""
    tokens = _tokenize(query)
    if not tokens:
        return None
    parser = _Parser(tokens, query)
    node = parser.parse_or()
    if parser.position < len(tokens):
        kind, _value, column = tokens[parser.position]
        raise QuerySyntaxError(
            "unexpected ')'" if kind == "rp" else "unexpected input", query, column
        )
    return node


def _tokenize(query: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if not match or match.end() == position:
            break
        kind = match.lastgroup or ""
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "phrase" and (len(value) < 2 or not value.endswith('"')):
            raise QuerySyntaxError("unclosed quotation mark", query, column)
        tokens.append((kind, value, column))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], query: str) -> None:
        self.tokens = tokens
        self.query = query
        self.position = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _is_op(self, token: tuple[str, str, int] | None, op: str) -> bool:
        return token is not None and token[0] == "word" and token[1] == op

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self._is_op(self._peek(), "OR"):
            self.position += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while True:
            token = self._peek()
            if token is None or token[0] == "rp" or self._is_op(token, "OR"):
                break
            if self._is_op(token, "AND"):
                self.position += 1
            children.append(self.parse_unary())
        positives = [c for c in children if not isinstance(c, Not)]
        if not positives:
            column = self.tokens[0][2]
            raise QuerySyntaxError(
                "NOT needs a term to subtract from (e.g. a NOT b)", self.query, column
            )
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Node:
        token = self._peek()
        if self._is_op(token, "NOT"):
            self.position += 1
            return Not(self.parse_unary())
        if (
            token is not None
            and token[0] == "word"
            and token[1].startswith("-")
            and len(token[1]) > 1
        ):
            self.tokens[self.position] = ("word", token[1][1:], token[2] + 1)
            return Not(self.parse_atom())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise QuerySyntaxError(
                "the query ends where a term was expected", self.query, len(self.query) + 1
            )
        kind, value, column = token
        self.position += 1
        if kind == "lp":
            node = self.parse_or()
            closing = self._peek()
            if closing is None or closing[0] != "rp":
                raise QuerySyntaxError("unclosed parenthesis", self.query, column)
            self.position += 1
            return node
        if kind == "rp":
            raise QuerySyntaxError("unexpected ')'", self.query, column)
        if kind == "word" and value in ("AND", "OR"):
            raise QuerySyntaxError(f"{value} needs a term on both sides", self.query, column)
        if kind == "phrase":
            words = _WORD_CHARS.findall(value[1:-1])
            if not words:
                raise QuerySyntaxError("empty phrase", self.query, column)
            return Term(" ".join(words), phrase=True)
        prefix = value.endswith("*")
        words = _WORD_CHARS.findall(value.rstrip("*"))
        if not words:
            raise QuerySyntaxError(
                f"{value!r} has no searchable letters or digits", self.query, column
            )
        if len(words) > 1:  # e.g. EU-Japan: the words in sequence
            return Term(" ".join(words), prefix=prefix, phrase=True)
        return Term(words[0], prefix=prefix)


def to_fts5(node: Node) -> str:
    """Render for SQLite FTS5 MATCH; every term is double-quoted, so nothing is syntax."""
    if isinstance(node, Term):
        quoted = '"' + node.text.replace('"', '""') + '"'
        return quoted + "*" if node.prefix else quoted
    if isinstance(node, Or):
        return "(" + " OR ".join(to_fts5(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return to_fts5(node.child)
    positives = [to_fts5(c) for c in node.children if not isinstance(c, Not)]
    negatives = [to_fts5(c.child) for c in node.children if isinstance(c, Not)]
    text = "(" + " AND ".join(positives) + ")"
    for negative in negatives:
        text = f"({text} NOT {negative})"
    return text


def terms_of(node: Node | None) -> list[Term]:
    """Positive terms, for highlighting."""
    if node is None or isinstance(node, Not):
        return []
    if isinstance(node, Term):
        return [node]
    return [t for child in node.children for t in terms_of(child)]
