"""CSV downloads: the rows a report shows, with spreadsheet formulas defused (SECURITY.md S27)."""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe(value) -> object:
    """A cell a spreadsheet will not run: text starting with = + - @ (or a tab / CR) gets a
    leading apostrophe. Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV text, one chunk per ~500 rows, starting with a BOM so Excel reads UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    for i, row in enumerate(rows, 1):
        writer.writerow([safe(v) for v in row])
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest
