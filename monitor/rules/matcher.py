"""One matcher for every term of every topic, and the scoring of each topic.

A document is folded once per field and scanned once by one Aho-Corasick
automaton built from all topics' terms (see :mod:`monitor.rules.scan`), so the
cost per document follows the document's length, not the number of topics.
Only topics with a term found are considered, each query is a compiled Python
expression, and scores are computed only for queries that hold.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import RuleSyntaxError
from monitor.rules.folding import FoldedText, fold, singular, words
from monitor.rules.parser import And, Near, Node, Not, Term, TermTable, parse
from monitor.rules.scan import Scanner
from monitor.rules.topic import TopicRule

MAX_HITS_PER_TERM = 8
_WORD = re.compile(r"[^\W_]+")
_SINGULAR: dict[str, str] = {}


def _singular(word: str) -> str:
    """Memoised: a corpus repeats its words, and this runs once per token."""
    found = _SINGULAR.get(word)
    if found is None:
        if len(_SINGULAR) > 200_000:
            _SINGULAR.clear()
        found = _SINGULAR[word] = singular(word)
    return found


REPEAT_BONUS = 0.1
MAX_REPEAT_BONUS = 0.5


@dataclass(frozen=True)
class Document:
    title: str
    text: str
    language: str | None = None


@dataclass(frozen=True)
class Hit:
    term: str
    field: str
    start: int
    end: int
    matched: str


@dataclass(frozen=True)
class Tag:
    topic: str
    score: float
    hits: tuple[Hit, ...]

    def explanation(self) -> str:
        seen: dict[tuple[str, str], Hit] = {}
        for hit in self.hits:
            seen.setdefault((hit.term, hit.field), hit)
        return ", ".join(f"{h.term} ({h.field}@{h.start})" for h in seen.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "score": round(self.score, 4),
            "hits": [[h.term, h.field, h.start, h.end, h.matched] for h in self.hits],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tag:
        return cls(
            topic=data["topic"],
            score=float(data["score"]),
            hits=tuple(Hit(*row) for row in data.get("hits", [])),
        )

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.term for h in self.hits))


@dataclass(frozen=True)
class TopicResult:
    """Why a topic did or did not tag a document (for `newsmon classify` and rules eval)."""

    topic: str
    tagged: bool
    matched: bool
    score: float
    threshold: float
    hits: tuple[Hit, ...]
    reason: str


@dataclass
class _Position:
    field: str
    fstart: int  # offset in the folded text below, for word distances
    start: int  # original offsets
    end: int
    folded: str


@dataclass
class _FieldView:
    name: str
    text: FoldedText
    tokens: list[tuple[str, int, int]]  # folded word, folded start, folded end
    keys: list[str]  # singular forms
    starts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Topic:
    name: str
    rule: TopicRule
    tree: Node
    terms: tuple[Term, ...]
    negated: frozenset[int]
    test: Any  # the query compiled to a Python function of the hits


class Classifier:
    def __init__(self, topics: list[_Topic], table: TermTable) -> None:
        self._topics = topics
        self.topics = tuple(t.name for t in topics)
        self._terms = table.terms
        self._topics_of: dict[int, list[_Topic]] = defaultdict(list)
        for topic in topics:
            for term in topic.terms:
                self._register(term, topic)
        self._scanner = Scanner(t for topic in topics for t in topic.terms)

    def _register(self, term: Term, topic: _Topic) -> None:
        self._topics_of[term.id].append(topic)

    # -- matching ----------------------------------------------------------------------------

    def _find(self, doc: Document) -> dict[int, list[_Position]]:
        found: dict[int, list[_Position]] = defaultdict(list)
        for name, value in (("title", doc.title or ""), ("text", doc.text or "")):
            if not value:
                continue
            plain = fold(value)
            cased = fold(value, keep_case=True) if self._scanner.has_case else None
            view: _FieldView | None = None
            for hit in self._scanner.scan(plain, cased, MAX_HITS_PER_TERM):
                term = hit.term
                if term.field and term.field != name:
                    continue
                if term.slop is not None:
                    view = view or _field_view(name, plain)
                    index = bisect.bisect_right(view.starts, hit.start) - 1
                    self._match_at(term, view, max(index, 0), found)
                    continue
                positions = found[term.id]
                if len(positions) < MAX_HITS_PER_TERM:
                    folded = cased if hit.cased else plain
                    start, end = folded.span(hit.start, hit.end)  # type: ignore[union-attr]
                    positions.append(_Position(name, hit.start, start, end, folded.folded))  # type: ignore[union-attr]
        return found

    def _record(self, found: dict[int, list[_Position]], term: Term, view: _FieldView,
                first: int, last: int) -> None:  # fmt: skip
        if term.field and term.field != view.name:
            return
        hits = found[term.id]
        if len(hits) < MAX_HITS_PER_TERM:
            start, _e = view.text.span(view.tokens[first][1], view.tokens[first][2])
            _s, end = view.text.span(view.tokens[last][1], view.tokens[last][2])
            hits.append(_Position(view.name, view.tokens[first][1], start, end, view.text.folded))

    def _match_at(self, term: Term, view: _FieldView, index: int,
                  found: dict[int, list[_Position]]) -> None:  # fmt: skip
        size = len(term.words)
        if size == 1:
            self._record(found, term, view, index, index)
            return
        if term.slop is not None:
            window = size - 1 + term.slop
            lo, hi = max(0, index - window), min(len(view.keys), index + window + 1)
            spots = [
                next((j for j in range(lo, hi) if self._word_ok(term, w, view, j)), None)
                for w in term.words[1:]
            ]
            if all(s is not None for s in spots):
                span = [index, *spots]
                if max(span) - min(span) <= window:
                    self._record(found, term, view, min(span), max(span))
            return
        if index + size > len(view.keys):
            return
        if all(self._word_ok(term, w, view, index + k) for k, w in enumerate(term.words[1:], 1)):
            self._record(found, term, view, index, index + size - 1)

    @staticmethod
    def _word_ok(term: Term, word: str, view: _FieldView, index: int) -> bool:
        if term.prefix and word == term.words[-1]:
            return view.tokens[index][0].startswith(word)
        return view.keys[index] == word

    # -- evaluation --------------------------------------------------------------------------

    def _score(
        self, topic: _Topic, found: dict[int, list[_Position]], doc: Document
    ) -> tuple[float, list[Hit]]:
        score, hits = 0.0, []
        title, text = doc.title, doc.text
        for term in topic.terms:
            positions = found.get(term.id)
            if not positions or term.id in topic.negated:
                continue
            # _find records a field's hits together, the title's before the text's.
            in_title, in_text = positions[0].field == "title", positions[-1].field == "text"
            base = max(topic.rule.title_boost if in_title else 0.0, 1.0 if in_text else 0.0)
            bonus = min(REPEAT_BONUS * (len(positions) - 1), MAX_REPEAT_BONUS)
            score += term.boost * (base + bonus)
            raw = term.raw
            for p in positions:
                source = title if p.field == "title" else text
                hits.append(Hit(raw, p.field, p.start, p.end, source[p.start : p.end]))
        return score * topic.rule.weight, hits

    def explain(self, doc: Document) -> list[TopicResult]:
        found = self._find(doc)
        return [self._judge(topic, doc, found) for topic in self._topics]

    def classify(self, doc: Document) -> list[Tag]:
        found = self._find(doc)
        if not found:
            return []
        candidates = {t.name: t for term_id in found for t in self._topics_of[term_id]}
        tags = []
        for topic in candidates.values():
            if _language_excluded(topic.rule, doc) or not topic.test(found.get, _near, found):
                continue
            score, hits = self._score(topic, found, doc)
            if score >= topic.rule.threshold:
                tags.append(Tag(topic.name, score, tuple(hits)))
        return sorted(tags, key=lambda t: -t.score)

    def _judge(
        self, topic: _Topic, doc: Document, found: dict[int, list[_Position]]
    ) -> TopicResult:
        languages = topic.rule.languages
        if _language_excluded(topic.rule, doc):
            return TopicResult(topic.name, False, False, 0.0, topic.rule.threshold, (),
                               f"language {doc.language!r} is not among {languages}")  # fmt: skip
        matched = topic.test(found.get, _near, found)
        score, raw_hits = self._score(topic, found, doc)
        hits = tuple(raw_hits)
        if not matched:
            reason = "the query is not satisfied"
        elif score < topic.rule.threshold:
            reason = f"score {score:.2f} is below the threshold {topic.rule.threshold:.2f}"
        else:
            reason = "tagged"
        tagged = matched and score >= topic.rule.threshold
        return TopicResult(topic.name, tagged, matched, score, topic.rule.threshold, hits, reason)


def _field_view(name: str, folded: FoldedText) -> _FieldView:
    """Token-level view of a field, built only for proximity phrases ("a b"~N)."""
    tokens = words(folded.folded)
    view = _FieldView(name, folded, tokens, [_singular(w) for w, _s, _e in tokens])
    view.starts = [start for _w, start, _e in tokens]
    return view


def _language_excluded(rule: TopicRule, doc: Document) -> bool:
    wanted = rule.languages
    return bool(wanted and doc.language and doc.language.split("-")[0].lower() not in wanted)


def _compile_test(tree: Node) -> Any:
    """The query as one Python expression: no tree walk per article.

    Built only from the parsed tree (term ids and operators), never from user text.
    """
    nears: list[Near] = []

    def expression(node: Node) -> str:
        if isinstance(node, Term):
            return f"bool(get({node.id}))"
        if isinstance(node, Not):
            return f"(not {expression(node.child)})"
        if isinstance(node, Near):
            nears.append(node)
            return f"near(nears[{len(nears) - 1}], found)"
        joiner = " and " if isinstance(node, And) else " or "
        return "(" + joiner.join(expression(c) for c in node.children) + ")"

    body = expression(tree)
    factory = eval(f"lambda nears: lambda get, near, found: {body}")
    return factory(nears)


def _near(node: Near, found: dict[int, list[_Position]]) -> bool:
    """Within N words: count the words that start between the two hits."""
    for a in _positions(node.left, found):
        for b in _positions(node.right, found):
            if a.field == b.field:
                lo, hi = sorted((a.fstart, b.fstart))
                if len(_WORD.findall(a.folded, lo, hi)) <= node.distance:
                    return True
    return False


def _positions(node: Node, found: dict[int, list[_Position]]) -> list[_Position]:
    if isinstance(node, Term):
        return found.get(node.id, [])
    if isinstance(node, Not):
        return []
    if isinstance(node, Near):
        return _positions(node.left, found) + _positions(node.right, found)
    return [p for child in node.children for p in _positions(child, found)]


def _negated_terms(node: Node, negated: bool = False) -> set[int]:
    if isinstance(node, Term):
        return {node.id} if negated else set()
    if isinstance(node, Not):
        return _negated_terms(node.child, not negated)
    if isinstance(node, Near):
        return _negated_terms(node.left, negated) | _negated_terms(node.right, negated)
    return set().union(*(_negated_terms(c, negated) for c in node.children))


def _terms_of(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return _terms_of(node.child)
    if isinstance(node, Near):
        return _terms_of(node.left) + _terms_of(node.right)
    return [t for child in node.children for t in _terms_of(child)]


def compile_rules(topics: Mapping[str, TopicRule]) -> Classifier:
    """Every topic's query parsed and merged into one matcher; the first error raises."""
    table = TermTable()
    compiled = []
    for name, rule in topics.items():
        tree = parse(name, rule.query, table)
        terms = tuple(_terms_of(tree))
        negated = frozenset(_negated_terms(tree))
        compiled.append(_Topic(name, rule, tree, terms, negated, _compile_test(tree)))
    return Classifier(compiled, table)


def check_rules(topics: Mapping[str, TopicRule]) -> list[RuleSyntaxError]:
    """All syntax errors of all topics (not just the first)."""
    errors = []
    for name, rule in topics.items():
        try:
            parse(name, rule.query, TermTable())
        except RuleSyntaxError as exc:
            errors.append(exc)
    return errors
