"""Tables a person reads: the build's gate table and the publisher's plan and summary.

Markdown, padded so it also reads well as plain text, and pastes into an MR or a job summary as it is.
"""
from __future__ import annotations

from typing import Iterable, Sequence


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell; a `|` inside a cell is escaped so it cannot split the row."""
    cells = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])
