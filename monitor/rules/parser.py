"""The topic query language, parsed into a small tree.

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          adjacent terms mean AND
    near    := unary ("NEAR/" N unary)*       within N words, either order
    unary   := "NOT" unary | atom
    atom    := [field ":"] (WORD | WORD"*" | "PHRASE"["~"N] | "(" or ")") ["^" WEIGHT]
    field   := title | text | case            case: makes a term case-sensitive

Precedence: NOT binds tightest, then NEAR, then AND, then OR. Errors carry the
1-based column so :class:`~monitor.errors.RuleSyntaxError` can draw a caret.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from monitor.errors import RuleSyntaxError
from monitor.rules.folding import fold, has_unspaced_script, singular, words

FIELDS = ("title", "text")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lp>\() | (?P<rp>\)) |
      (?P<near>NEAR/(?P<dist>\d+)) |
      (?P<phrase>"[^"]*"?(?:~(?P<slop>\d+))?) |
      (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)
_BOOST = re.compile(r"^(?P<body>.*?)\^(?P<boost>\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Term:
    id: int
    raw: str
    words: tuple[str, ...]  # folded; singular unless prefix/case
    prefix: bool = False
    case: bool = False
    unspaced: bool = False
    field: str | None = None
    slop: int | None = None
    boost: float = 1.0


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


Node = Term | And | Or | Not | Near


@dataclass
class _Token:
    kind: str
    value: str
    column: int
    extra: str | None = None


@dataclass
class TermTable:
    """Numbers every term of every topic, so one matcher serves them all."""

    terms: list[Term] = field(default_factory=list)

    def add(self, **kwargs: object) -> Term:
        term = Term(id=len(self.terms), **kwargs)  # type: ignore[arg-type]
        self.terms.append(term)
        return term


def parse(topic: str, query: str, table: TermTable) -> Node:
    tokens = _tokenize(topic, query)
    if not tokens:
        raise RuleSyntaxError("the query is empty", topic=topic, query=query, column=1)
    parser = _Parser(topic, query, tokens, table)
    node = parser.parse_or()
    if parser.position < len(tokens):
        token = tokens[parser.position]
        message = "unbalanced ')'" if token.kind == "rp" else f"unexpected {token.value!r}"
        raise RuleSyntaxError(message, topic=topic, query=query, column=token.column)
    if not _has_positive(node):
        raise RuleSyntaxError(
            "the query only excludes (NOT …): say what to match", topic=topic, query=query, column=1
        )
    return node


def _has_positive(node: Node) -> bool:
    if isinstance(node, Term):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, Near):
        return True
    return any(_has_positive(c) for c in node.children)


def _tokenize(topic: str, query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = query.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = next(k for k in ("lp", "rp", "near", "phrase", "word") if match.group(k) is not None)
        column = match.start(kind) + 1
        value = match.group(kind)
        if kind == "phrase" and (
            len(value.split("~")[0]) < 2 or not value.split("~")[0].endswith('"')
        ):
            raise RuleSyntaxError(
                "unclosed quotation mark", topic=topic, query=query, column=column
            )
        extra = match.group("dist") if kind == "near" else match.group("slop")
        tokens.append(_Token(kind, value, column, extra))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, topic: str, query: str, tokens: list[_Token], table: TermTable) -> None:
        self.topic, self.query, self.tokens, self.table = topic, query, tokens, table
        self.position = 0

    def error(self, message: str, column: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, topic=self.topic, query=self.query, column=column)

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def is_op(self, token: _Token | None, op: str) -> bool:
        return token is not None and token.kind == "word" and token.value == op

    def parse_or(self, scope: tuple[str | None, bool] = (None, False)) -> Node:
        children = [self.parse_and(scope)]
        while self.is_op(self.peek(), "OR"):
            self.position += 1
            children.append(self.parse_and(scope))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, scope: tuple[str | None, bool]) -> Node:
        children = [self.parse_near(scope)]
        while True:
            token = self.peek()
            if token is None or token.kind == "rp" or self.is_op(token, "OR"):
                break
            if self.is_op(token, "AND"):
                self.position += 1
            children.append(self.parse_near(scope))
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self, scope: tuple[str | None, bool]) -> Node:
        node = self.parse_unary(scope)
        while (token := self.peek()) is not None and token.kind == "near":
            self.position += 1
            right = self.parse_unary(scope)
            if isinstance(node, Not) or isinstance(right, Not):
                raise self.error("NEAR cannot take a NOT operand", token.column)
            node = Near(node, right, int(token.extra or 0))
        return node

    def parse_unary(self, scope: tuple[str | None, bool]) -> Node:
        token = self.peek()
        if self.is_op(token, "NOT"):
            self.position += 1
            return Not(self.parse_unary(scope))
        return self.parse_atom(scope)

    def parse_atom(self, scope: tuple[str | None, bool]) -> Node:
        token = self.peek()
        if token is None:
            raise self.error("the query ends where a term was expected", len(self.query) + 1)
        self.position += 1
        field_name, case = scope
        if token.kind == "word" and token.value in ("AND", "OR", "NOT"):
            raise self.error(f"{token.value} needs a term here", token.column)
        if token.kind == "rp":
            raise self.error("unexpected ')'", token.column)
        if token.kind == "near":
            raise self.error("NEAR needs a term on its left", token.column)
        if token.kind == "lp":
            node = self.parse_or(scope)
            closing = self.peek()
            if closing is None or closing.kind != "rp":
                raise self.error("unclosed parenthesis", token.column)
            self.position += 1
            return node
        value = token.value
        column = token.column
        while token.kind == "word" and ":" in value and not value.startswith(("http:", "https:")):
            prefix, rest = value.split(":", 1)
            if prefix == "case":
                case = True
            elif prefix in FIELDS:
                field_name = prefix
            else:
                raise self.error(f"unknown field {prefix!r} (use title:, text: or case:)", column)
            column += len(prefix) + 1
            if rest:
                value = rest
                if value.startswith('"'):  # title:"EU-Japan"
                    return self.make_phrase(value, token.extra, column, field_name, case)
                continue
            following = self.peek()
            if following is None:
                raise self.error(f"{prefix}: needs a term or a group after it", column)
            return self.parse_atom((field_name, case))
        if token.kind == "phrase":
            return self.make_phrase(value, token.extra, column, field_name, case)
        return self.make_word(value, column, field_name, case)

    def make_phrase(
        self, value: str, slop: str | None, column: int, field_name: str | None, case: bool
    ) -> Term:
        body = value.split("~")[0]
        if not body.endswith('"') or len(body) < 2:
            raise self.error("unclosed quotation mark", column)
        return self.make_term(
            body[1:-1], column, field_name, case, slop=int(slop) if slop else None
        )

    def make_word(self, value: str, column: int, field_name: str | None, case: bool) -> Term:
        boost = 1.0
        match = _BOOST.match(value)
        if match:
            value, boost = match.group("body"), float(match.group("boost"))
        prefix = value.endswith("*")
        return self.make_term(
            value.rstrip("*"), column, field_name, case, prefix=prefix, boost=boost
        )

    def make_term(
        self, raw: str, column: int, field_name: str | None, case: bool, *,
        prefix: bool = False, slop: int | None = None, boost: float = 1.0,
    ) -> Term:  # fmt: skip
        text = unicodedata.normalize("NFKC", raw).strip()
        if not text:
            raise self.error("empty term", column)
        if has_unspaced_script(text):
            folded = fold(text, keep_case=case).folded
            return self.table.add(raw=raw, words=(folded,), unspaced=True, field=field_name,
                                  case=case, boost=boost)  # fmt: skip
        parts = [w for w, _s, _e in words(fold(text, keep_case=case).folded)]
        if not parts:
            raise self.error(f"{raw!r} has no letters or digits to match", column)
        if not (prefix or case):
            parts = [singular(p) for p in parts]
        if prefix and len(parts[-1]) < 3:
            raise self.error("a prefix needs at least 3 letters before *", column)
        return self.table.add(raw=raw + ("*" if prefix else ""), words=tuple(parts), prefix=prefix,
                              case=case, field=field_name, slop=slop, boost=boost)  # fmt: skip
