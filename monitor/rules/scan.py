"""One Aho-Corasick pass over a field finds every term of every topic.

All term spellings go into a single pyahocorasick automaton: each word term with
its plural spellings, each prefix, one word of each phrase (its anchor), each
unspaced-script term. One C-level scan of the folded text yields candidate hits;
Python then checks word boundaries and the rest of a phrase only at those few
places. The cost per article follows its length, not the number of topics.
Case-sensitive terms get a second automaton over the case-preserving fold.

A phrase is anchored on its longest word, not its first: the automaton reports
every occurrence of a key, inside words too, and a key like the "e" of "e-bike"
or the "li" of "li-ion" occurs hundreds of times in any article. The words
before the anchor are checked by matching their reversed pattern on the
reversed text, so the phrase is still found exactly where it starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from monitor.rules.folding import FoldedText, singular
from monitor.rules.parser import Term

_WORD = re.compile(r"[^\W_]+")
_GAP = r"[\W_]+"


def spellings(word: str) -> set[str]:
    """Every word whose singular form is ``word`` (plus the word itself)."""
    candidates = {word, word + "s", word + "es"}
    if word.endswith("y"):
        candidates.add(word[:-1] + "ies")
    return {c for c in candidates if c == word or singular(c) == word}


def _alternation(words: Iterable[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def anchor(term: Term) -> int:
    """Index of the word a phrase is looked up by: its longest (the first if none is longer).

    Proximity phrases, prefix phrases and unspaced scripts keep their first word.
    """
    words = term.words
    if len(words) < 2 or term.slop is not None or term.prefix or term.unspaced:
        return 0
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    return longest if len(words[longest]) > len(words[0]) else 0


@dataclass(frozen=True)
class Found:
    term: Term
    start: int  # folded offsets
    end: int
    cased: bool


class Scanner:
    def __init__(self, terms: Iterable[Term]) -> None:
        self._plain = ahocorasick.Automaton()
        self._case = ahocorasick.Automaton()
        self._rest: dict[int, re.Pattern[str]] = {}
        self._before: dict[int, re.Pattern[str]] = {}  # on the reversed text
        plain: dict[str, list[tuple[Term, str]]] = {}
        cased: dict[str, list[tuple[Term, str]]] = {}
        for term in terms:
            table = cased if term.case else plain
            if term.unspaced:
                table.setdefault(term.words[0], []).append((term, "sub"))
                continue
            at = anchor(term)
            first, rest = term.words[at], term.words[at + 1 :]
            single_prefix = term.prefix and not rest and at == 0
            keys = {first} if (term.case or single_prefix) else spellings(first)
            for key in keys:
                table.setdefault(key, []).append((term, "prefix" if single_prefix else "word"))
            if rest and term.slop is None:
                self._rest[term.id] = re.compile(self._rest_pattern(term, rest))
            if at:
                self._before[term.id] = re.compile(self._before_pattern(term, term.words[:at]))
        for automaton, table in ((self._plain, plain), (self._case, cased)):
            for key, entries in table.items():
                # "Bounded": every term under this key starts at a word boundary, so a
                # hit inside a word is dropped before anything else is looked at.
                bounded = all(mode != "sub" for _t, mode in entries)
                automaton.add_word(key, (len(key), tuple(entries), bounded))
            if table:
                automaton.make_automaton()
        self._has_case = bool(cased)
        self.slop_terms = any(t.slop is not None for entries in plain.values() for t, _m in entries)

    @staticmethod
    def _rest_pattern(term: Term, rest: tuple[str, ...]) -> str:
        parts = []
        for index, word in enumerate(rest):
            last = index == len(rest) - 1
            options = {word} if term.case or (term.prefix and last) else spellings(word)
            boundary = "" if term.prefix and last else r"(?![^\W_])"
            parts.append(_GAP + _alternation(options) + boundary)
        return "".join(parts)

    @staticmethod
    def _before_pattern(term: Term, before: tuple[str, ...]) -> str:
        """The words before a phrase's anchor, last first, each spelled backwards."""
        parts = []
        for word in reversed(before):
            options = {word} if term.case else spellings(word)
            parts.append(_GAP + _alternation(w[::-1] for w in options))
        return "".join(parts) + r"(?![^\W_])"

    def scan(self, plain: FoldedText, cased: FoldedText | None, limit: int = 8) -> list[Found]:
        """Hits in document order, at most ``limit`` per term (enough to explain and score)."""
        found: list[Found] = []
        counts: dict[int, int] = {}
        for folded, automaton in ((plain, self._plain), (cased, self._case)):
            if folded is None or not len(automaton):
                continue
            text = folded.folded
            size = len(text)
            backwards = text[::-1] if self._before else ""
            for last, (length, entries, bounded) in automaton.iter(text):
                start = last - length + 1
                left_ok = start == 0 or not text[start - 1].isalnum()
                if bounded and not left_ok:
                    continue  # most hits: short keys ("e" of "e-mobility") inside words
                end = last + 1
                right_ok = end >= size or not text[end].isalnum()
                for term, mode in entries:
                    if counts.get(term.id, 0) >= limit:
                        continue
                    if mode == "sub":
                        stop = end
                    elif not left_ok:
                        continue
                    elif mode == "prefix":
                        stop = _WORD.match(text, start).end()  # type: ignore[union-attr]
                    elif not right_ok:
                        continue
                    elif term.slop is not None:
                        stop = end  # the window is checked on tokens later
                    elif term.id in self._rest:
                        more = self._rest[term.id].match(text, end)
                        if more is None:
                            continue
                        stop = more.end()
                    else:
                        stop = end
                    begin = start
                    if term.id in self._before:
                        earlier = self._before[term.id].match(backwards, size - start)
                        if earlier is None:
                            continue
                        begin = size - earlier.end()
                    counts[term.id] = counts.get(term.id, 0) + 1
                    found.append(Found(term, begin, stop, folded is not plain))
        return found

    @property
    def has_case(self) -> bool:
        return self._has_case
