"""One Aho-Corasick pass over a field finds every term of every topic.

All term spellings go into a single pyahocorasick automaton: each word term with
its plural spellings, each prefix, the first word of each phrase, each
unspaced-script term. One C-level scan of the folded text yields candidate hits;
Python then checks word boundaries and the rest of a phrase only at those few
places. The cost per article follows its length, not the number of topics.
Case-sensitive terms get a second automaton over the case-preserving fold.
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
        plain: dict[str, list[tuple[Term, str]]] = {}
        cased: dict[str, list[tuple[Term, str]]] = {}
        for term in terms:
            table = cased if term.case else plain
            if term.unspaced:
                table.setdefault(term.words[0], []).append((term, "sub"))
                continue
            first, rest = term.words[0], term.words[1:]
            single_prefix = term.prefix and not rest
            keys = {first} if (term.case or single_prefix) else spellings(first)
            for key in keys:
                table.setdefault(key, []).append((term, "prefix" if single_prefix else "word"))
            if rest and term.slop is None:
                self._rest[term.id] = re.compile(self._rest_pattern(term, rest))
        for automaton, table in ((self._plain, plain), (self._case, cased)):
            for key, entries in table.items():
                automaton.add_word(key, (len(key), tuple(entries)))
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

    def scan(self, plain: FoldedText, cased: FoldedText | None, limit: int = 8) -> list[Found]:
        """Hits in document order, at most ``limit`` per term (enough to explain and score)."""
        found: list[Found] = []
        counts: dict[int, int] = {}
        for folded, automaton in ((plain, self._plain), (cased, self._case)):
            if folded is None or not len(automaton):
                continue
            text = folded.folded
            size = len(text)
            for last, (length, entries) in automaton.iter(text):
                start, end = last - length + 1, last + 1
                left_ok = start == 0 or not text[start - 1].isalnum()
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
                    counts[term.id] = counts.get(term.id, 0) + 1
                    found.append(Found(term, start, stop, folded is not plain))
        return found

    @property
    def has_case(self) -> bool:
        return self._has_case
