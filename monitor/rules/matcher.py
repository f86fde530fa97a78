"""One matcher for every term of every topic, and the scoring of each topic.

A document is folded and tokenised once per field. Its distinct words are then
looked up in one table built from all topics' terms (plus one table per prefix
length), so the cost per document follows the document's length, not the number
of topics. Only topics with at least one term found are evaluated at all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import RuleSyntaxError
from monitor.rules.folding import FoldedText, fold, has_unspaced_script, singular, words
from monitor.rules.parser import And, Near, Node, Not, Or, Term, TermTable, parse
from monitor.rules.topic import TopicRule

MAX_HITS_PER_TERM = 8
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
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
    token: int
    start: int  # original offsets
    end: int


@dataclass
class _FieldView:
    name: str
    text: FoldedText
    tokens: list[tuple[str, int, int]]  # folded word, folded start, folded end
    keys: list[str]  # singular forms
    by_key: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Topic:
    name: str
    rule: TopicRule
    tree: Node
    terms: tuple[Term, ...]
    negated: frozenset[int]


class Classifier:
    def __init__(self, topics: list[_Topic], table: TermTable) -> None:
        self._topics = topics
        self.topics = tuple(t.name for t in topics)
        self._terms = table.terms
        self._topics_of: dict[int, list[_Topic]] = defaultdict(list)
        self._by_word: dict[str, list[Term]] = defaultdict(list)
        self._by_case_word: dict[str, list[Term]] = defaultdict(list)
        self._prefixes: dict[int, dict[str, list[Term]]] = defaultdict(lambda: defaultdict(list))
        self._unspaced: list[Term] = []
        for topic in topics:
            for term in topic.terms:
                self._register(term, topic)
        self._word_keys = frozenset(self._by_word)
        self._case_keys = frozenset(w.lower() for w in self._by_case_word)

    def _register(self, term: Term, topic: _Topic) -> None:
        self._topics_of[term.id].append(topic)
        if term.unspaced:
            self._unspaced.append(term)
        elif term.case:
            self._by_case_word[term.words[0]].append(term)
        elif term.prefix and len(term.words) == 1:
            self._prefixes[len(term.words[0])][term.words[0]].append(term)
        else:
            self._by_word[term.words[0]].append(term)

    # -- matching ----------------------------------------------------------------------------

    def _find(self, doc: Document) -> dict[int, list[_Position]]:
        """Cheap screen first: most fields contain no term of any topic at all.

        Only when a field's distinct words (or a substring term) hit the term
        tables are word offsets and positions computed for it.
        """
        found: dict[int, list[_Position]] = defaultdict(list)
        for name, value in (("title", doc.title or ""), ("text", doc.text or "")):
            if not value:
                continue
            folded = fold(value)
            plain = _WORD_RE.findall(folded.folded)
            distinct = set(plain)
            keys = {_singular(w) for w in distinct}
            candidate = not keys.isdisjoint(self._word_keys) or (
                self._unspaced and has_unspaced_script(folded.folded)
            )
            if not candidate and self._prefixes:
                candidate = any(
                    word[:length] in table
                    for word in distinct
                    for length, table in self._prefixes.items()
                )
            if not candidate and self._by_case_word:
                candidate = not distinct.isdisjoint(self._case_keys)
            if not candidate:
                continue
            tokens = words(folded.folded)
            view = _FieldView(name, folded, tokens, [_singular(w) for w, _s, _e in tokens])
            for index, key in enumerate(view.keys):
                view.by_key.setdefault(key, []).append(index)
            self._find_words(view, found)
            if self._by_case_word:
                self._find_case(doc, view, found)
            for term in self._unspaced:
                self._find_substring(term, view, found)
        return found

    def _record(self, found: dict[int, list[_Position]], term: Term, view: _FieldView,
                first: int, last: int) -> None:  # fmt: skip
        if term.field and term.field != view.name:
            return
        hits = found[term.id]
        if len(hits) < MAX_HITS_PER_TERM:
            start, _e = view.text.span(view.tokens[first][1], view.tokens[first][2])
            _s, end = view.text.span(view.tokens[last][1], view.tokens[last][2])
            hits.append(_Position(view.name, first, start, end))

    def _find_words(self, view: _FieldView, found: dict[int, list[_Position]]) -> None:
        for key in view.by_key.keys() & self._word_keys:
            positions = view.by_key[key]
            for term in self._by_word[key]:
                for index in positions:
                    self._match_at(term, view, index, found)
        if not self._prefixes:
            return
        by_word: dict[str, list[int]] = {}
        for index, (word, _s, _e) in enumerate(view.tokens):
            by_word.setdefault(word, []).append(index)
        for length, table in self._prefixes.items():
            for word, positions in by_word.items():
                terms = table.get(word[:length]) if len(word) >= length else None
                for term in terms or ():
                    for index in positions[:MAX_HITS_PER_TERM]:
                        self._record(found, term, view, index, index)

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

    def _find_case(
        self, doc: Document, view: _FieldView, found: dict[int, list[_Position]]
    ) -> None:
        original = view.text.original
        for index, (_w, start, end) in enumerate(view.tokens):
            o_start, o_end = view.text.span(start, end)
            for term in self._by_case_word.get(original[o_start:o_end], ()):
                if len(term.words) == 1:
                    self._record(found, term, view, index, index)
                elif index + len(term.words) <= len(view.tokens) and all(
                    original.__getitem__(slice(*view.text.span(*view.tokens[index + k][1:])))
                    == w for k, w in enumerate(term.words[1:], 1)
                ):  # fmt: skip
                    self._record(found, term, view, index, index + len(term.words) - 1)

    def _find_substring(
        self, term: Term, view: _FieldView, found: dict[int, list[_Position]]
    ) -> None:
        if term.field and term.field != view.name:
            return
        needle, haystack = term.words[0], view.text.folded
        at = haystack.find(needle)
        starts = [s for _w, s, _e in view.tokens]
        while at != -1 and len(found[term.id]) < MAX_HITS_PER_TERM:
            start, end = view.text.span(at, at + len(needle))
            token = max(0, _bisect(starts, at))
            found[term.id].append(_Position(view.name, token, start, end))
            at = haystack.find(needle, at + len(needle))

    # -- evaluation --------------------------------------------------------------------------

    def _evaluate(self, node: Node, found: dict[int, list[_Position]]) -> bool:
        if isinstance(node, Term):
            return bool(found.get(node.id))
        if isinstance(node, And):
            return all(self._evaluate(c, found) for c in node.children)
        if isinstance(node, Or):
            return any(self._evaluate(c, found) for c in node.children)
        if isinstance(node, Not):
            return not self._evaluate(node.child, found)
        left, right = _positions(node.left, found), _positions(node.right, found)
        return any(
            a.field == b.field and abs(a.token - b.token) <= node.distance
            for a in left for b in right
        )  # fmt: skip

    def _score(self, topic: _Topic, found: dict[int, list[_Position]]) -> tuple[float, list[Hit]]:
        score, hits = 0.0, []
        for term in topic.terms:
            positions = found.get(term.id)
            if not positions or term.id in topic.negated:
                continue
            in_title = any(p.field == "title" for p in positions)
            base = max(topic.rule.title_boost if in_title else 0.0,
                       1.0 if any(p.field == "text" for p in positions) else 0.0)  # fmt: skip
            bonus = min(REPEAT_BONUS * (len(positions) - 1), MAX_REPEAT_BONUS)
            score += term.boost * (base + bonus)
            hits.extend(Hit(term.raw, p.field, p.start, p.end, "") for p in positions)
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
            result = self._judge(topic, doc, found)
            if result.tagged:
                tags.append(Tag(topic.name, result.score, result.hits))
        return sorted(tags, key=lambda t: -t.score)

    def _judge(
        self, topic: _Topic, doc: Document, found: dict[int, list[_Position]]
    ) -> TopicResult:
        languages = topic.rule.languages
        if languages and doc.language and doc.language.split("-")[0].lower() not in languages:
            return TopicResult(topic.name, False, False, 0.0, topic.rule.threshold, (),
                               f"language {doc.language!r} is not among {languages}")  # fmt: skip
        matched = self._evaluate(topic.tree, found)
        score, raw_hits = self._score(topic, found)
        hits = tuple(_with_text(h, doc) for h in raw_hits)
        if not matched:
            reason = "the query is not satisfied"
        elif score < topic.rule.threshold:
            reason = f"score {score:.2f} is below the threshold {topic.rule.threshold:.2f}"
        else:
            reason = "tagged"
        tagged = matched and score >= topic.rule.threshold
        return TopicResult(topic.name, tagged, matched, score, topic.rule.threshold, hits, reason)


def _bisect(starts: list[int], at: int) -> int:
    import bisect

    return bisect.bisect_right(starts, at) - 1


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


def _with_text(hit: Hit, doc: Document) -> Hit:
    source = doc.title if hit.field == "title" else doc.text
    return Hit(hit.term, hit.field, hit.start, hit.end, source[hit.start : hit.end])


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
        compiled.append(_Topic(name, rule, tree, terms, frozenset(_negated_terms(tree))))
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
