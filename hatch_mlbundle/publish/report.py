"""Tables a person reads at the end of a run (markdown, so they paste into an MR or a job summary)."""

from __future__ import annotations

from typing import Iterable, Sequence


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell so the table also reads well as plain text."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [list(headers), *cells]) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def plan_table(items) -> str:
    """The dry-run view: where each file would go and what would happen to it."""
    return markdown_table(
        ("registry", "file", "size", "sha256", "action", "url"),
        ((i.registry, i.name, human_size(i.size), i.sha256[:16], i.action, i.url) for i in items))


def summary_table(items) -> str:
    return markdown_table(
        ("registry", "file", "size", "result", "detail"),
        ((i.registry, i.name, human_size(i.size), i.result, i.detail) for i in items))
