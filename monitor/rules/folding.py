"""Text normalisation shared by rules and documents, with a way back to the original.

Matching happens on a folded copy of the text: width-folded (NFKC), case-folded
and stripped of accents, so ``Séjourné`` meets ``Sejourne`` and ``ＥＵ`` meets
``EU``. Every folded character remembers the index of the original character it
came from, so a hit can be reported at its true offset in the article.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Scripts written without spaces between words: matched as substrings, not words.
_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\u0e00-\u0e7f"
    "\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\uac00-\ud7af]"
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def has_unspaced_script(text: str) -> bool:
    return _UNSPACED.search(text) is not None


def _fold_char(char: str, keep_case: bool) -> str:
    folded = unicodedata.normalize("NFKC", char)
    if not keep_case:
        folded = folded.casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


@dataclass(frozen=True)
class FoldedText:
    original: str
    folded: str
    origin: tuple[int, ...] | None  # folded index -> original index; None when identical

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the folded span [start, end)."""
        if self.origin is None:
            return start, end
        if start >= len(self.origin):
            return len(self.original), len(self.original)
        last = self.origin[end - 1] + 1 if end > start else self.origin[start]
        return self.origin[start], last


def fold(text: str, *, keep_case: bool = False) -> FoldedText:
    """Fold ``text``; ASCII text (most of it) takes a fast, offset-preserving path."""
    if text.isascii():
        return FoldedText(text, text if keep_case else text.lower(), None)
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            out = char if keep_case else char.lower()
        else:
            out = _fold_char(char, keep_case)
        pieces.append(out)
        origin.extend([index] * len(out))
    folded = "".join(pieces)
    if len(folded) == len(text) and all(i == o for i, o in enumerate(origin)):
        return FoldedText(text, folded, None)
    return FoldedText(text, folded, tuple(origin))


def words(folded: str) -> list[tuple[str, int, int]]:
    """Word tokens of folded text with their folded offsets."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]


def singular(word: str) -> str:
    """Simple, predictable plural folding for Latin-script words.

    batteries→battery, smelters→smelter, boxes→box, ministries→ministry;
    words of three letters or fewer, and endings ss/us/is, are left alone.
    """
    if len(word) <= 3 or not word.isalpha() or not word.isascii():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
