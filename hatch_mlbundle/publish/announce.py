"""After a successful publish, tell people: the model, its version, its headline metrics against the previous
release, and where to get it (each target's page for what it published).

Releases (the publish of a tag) are announced; other publishes (dev builds) only with ``--notify-dev``.  A rerun that found everything already in place
announces nothing again.  Delivery (apprise, secrets masked, failures as warnings) is :mod:`.notify`'s business.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import notify
from .compare import headline

if TYPE_CHECKING:
    from .context import RunContext
    from .history import History
    from .targets import Item

log = logging.getLogger("hatch_mlbundle.publish")


def message(history: History, items: list[Item]) -> tuple[str, str]:
    """The title and Markdown body of the announcement."""
    kind = "released" if history.is_release else "published (dev build)"
    title = f"{history.name} {history.version} {kind}"
    previous = history.previous
    lines = [f"**{title}**", ""]
    for row in headline(history.current, previous):
        before, after, change = row.cells()
        if after != "-":
            versus = f" ({change} against {previous.version}: {before})" if change else ""
            lines.append(f"- {row.label}: {after}{versus}")
    if history.is_release and previous is None:
        lines.append("- first release")
    for line in history.allowed:
        lines.append(f"- published with --allow-regression: {line}")
    pages = list(dict.fromkeys((item.registry, item.page) for item in items if item.page))
    if pages:
        lines += [""] + [f"- {registry}: {page}" for registry, page in pages]
    return title, "\n".join(lines)


def announce(context: RunContext, history: History, items: list[Item]) -> None:
    settings = context.settings
    if not settings.notify_urls or not any(item.result == "published" and item.download for item in items):
        return  # nothing new to fetch (a rerun that only completed a Release): nobody is told twice
    if not (history.is_release or settings.notify_dev):
        log.info("%s is not a release (no tag): not notified (--notify-dev would)", history.version)
        return
    title, body = message(history, items)
    for warning in notify.send(settings.notify_urls, title, body, redact=context.redactor):
        log.warning("%s", warning)
