"""Precision and recall of the configured topics on a labelled file (``newsmon rules eval``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def to_json(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(precision, 4),
                "recall": round(recall, 4), "f1": round(f1, 4)}  # fmt: skip


@dataclass(frozen=True)
class Miss:
    id: str
    topic: str
    expected: bool
    got: bool
    explanation: str


@dataclass
class EvalReport:
    topics: dict[str, Counts]
    errors: list[Miss] = field(default_factory=list)
    items: int = 0

    def micro(self) -> Counts:
        total = Counts()
        for counts in self.topics.values():
            total.tp, total.fp, total.fn = (
                total.tp + counts.tp,
                total.fp + counts.fp,
                total.fn + counts.fn,
            )
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "topics": {name: counts.to_json() for name, counts in self.topics.items()},
            "micro": self.micro().to_json(),
        }


def read_labelled(path: Path) -> list[dict[str, Any]]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON object: {exc.msg}") from None
        if not isinstance(item, dict) or not isinstance(item.get("labels"), list):
            raise ConfigError(f"{path}:{number}: needs an object with a 'labels' list")
        items.append(item)
    return items


def evaluate(classifier: Any, labelled_path: Path) -> EvalReport:
    """Raises ConfigError when the file names topics the config does not have."""
    from monitor.rules.matcher import Document

    items = read_labelled(Path(labelled_path))
    unknown = sorted({label for item in items for label in item["labels"]} - set(classifier.topics))
    if unknown:
        raise ConfigError(f"{labelled_path}: labels not configured as topics: {', '.join(unknown)}")
    report = EvalReport({name: Counts() for name in classifier.topics}, items=len(items))
    for item in items:
        doc = Document(str(item.get("title") or ""), str(item.get("text") or ""), item.get("lang"))
        results = {r.topic: r for r in classifier.explain(doc)}
        for topic, counts in report.topics.items():
            expected, got = topic in item["labels"], results[topic].tagged
            if expected and got:
                counts.tp += 1
            elif got:
                counts.fp += 1
            elif expected:
                counts.fn += 1
            if expected != got:
                result = results[topic]
                why = ", ".join(dict.fromkeys(h.term for h in result.hits)) or "no terms"
                report.errors.append(
                    Miss(
                        str(item.get("id")),
                        topic,
                        expected,
                        got,
                        f"{result.reason}; matched: {why}",
                    )
                )
    return report
