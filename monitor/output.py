"""Printing rows as a table, JSON, JSON lines or CSV: one place for every command.

JSON is one array, JSON lines one object a line (streams in bounded memory),
CSV a header and rows; tables are for people and may truncate.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import IO, Any

from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def write_records(
    records: Iterable[dict[str, Any]],
    fmt: Format,
    *,
    columns: Sequence[str],
    title: str | None = None,
    stream: IO[str] | None = None,
) -> int:
    out = stream or sys.stdout
    count = 0
    if fmt is Format.json:
        out.write("[")
        for count, record in enumerate(records, start=1):
            out.write(("," if count > 1 else "") + "\n  " + json.dumps(record, ensure_ascii=False))
        out.write("\n]\n" if count else "]\n")
        return count
    if fmt is Format.jsonl:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count
    if fmt is Format.csv:
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _flat(record.get(k)) for k in columns})
            count += 1
        return count
    table = Table(title=title, show_lines=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold", max_width=70 if column == "title" else None)
    for record in records:
        table.add_row(*(_flat(record.get(k)) for k in columns))
        count += 1
    Console(file=out, soft_wrap=False).print(table)
    return count


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
