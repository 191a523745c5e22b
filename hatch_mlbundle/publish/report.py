"""Tables a person reads at the end of a run (markdown, so they paste into an MR or a job summary)."""

from __future__ import annotations

from ..tables import human_size, markdown_table


def plan_table(items) -> str:
    """The dry-run view: where each file would go and what would happen to it."""
    return markdown_table(
        ("registry", "file", "size", "sha256", "action", "url"),
        ((i.registry, i.name, human_size(i.size), i.sha256[:16], i.action, i.url) for i in items))


def summary_table(items) -> str:
    return markdown_table(
        ("registry", "file", "size", "result", "detail"),
        ((i.registry, i.name, human_size(i.size), i.result, i.detail) for i in items))
