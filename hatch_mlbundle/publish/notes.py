"""Release notes, generated from the model card: what changed against the previous release, where the model
came from, and the exact commands that install it.

Deterministic on purpose (the cards, the version and the links only; no clock): a rerun renders the same text,
so the release it finds complete is left alone.  The first line marks notes written here, with the sha256 of the
rest: notes a person wrote, or edited after us, no longer match it, and are theirs (kept).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Sequence

from ..tables import markdown_table
from .compare import Row, headline, per_class
from .history import Release

MARKER = "<!-- release notes by hatch-mlbundle, sha256 {} -->"
_MARKED = re.compile(r"<!-- release notes by hatch-mlbundle, sha256 ([0-9a-f]{64}) -->\n")


def _sign(body: str) -> str:
    return MARKER.format(hashlib.sha256(body.encode()).hexdigest()) + "\n" + body


def untouched(description: str) -> bool:
    """Whether ``description`` is notes of ours that nobody has edited since (so a rerun may replace them)."""
    match = _MARKED.match(description.replace("\r\n", "\n"))
    body = description.replace("\r\n", "\n")[match.end():] if match else ""
    return bool(match) and hashlib.sha256(body.encode()).hexdigest() == match.group(1)


def _rows(rows: list[Row], label: str, previous: Release | None, current: Release) -> str:
    before = previous.version if previous else "previous"
    return markdown_table((label, before, current.version, "change"), ((row.label, *row.cells()) for row in rows))


def _hashes(card: dict[str, Any]) -> list[str]:
    lines = []
    for title, key in (("weights", "weights"), ("exported", "exported")):
        entry = card.get(key)
        if isinstance(entry, dict) and entry.get("sha256"):
            lines.append(f"- {title} `{entry.get('file', '')}`: sha256 `{entry['sha256']}`")
    for title, key in (("fingerprint", "fingerprint"), ("git commit", "git_commit"), ("built", "built")):
        if card.get(key):
            lines.append(f"- {title}: `{card[key]}`")
    for title, key in (("data", "data_sha256"), ("source", "source_sha256")):
        files = card.get(key)
        if isinstance(files, dict) and files:
            lines.append(f"\n{title.capitalize()} files (sha256):\n")
            lines.append(markdown_table(("file", "sha256"), ((f"`{name}`", f"`{digest}`")
                                                             for name, digest in sorted(files.items()))))
    return lines


def render(current: Release, previous: Release | None, *, name: str, tag: str, index_url: str,
           files: Sequence[tuple[str, str]], allowed: Sequence[str]) -> str:
    """``files``: (name, download URL) of every published raw file; ``allowed``: regressions let through."""
    out = [f"# {name} {current.version}", ""]
    if previous is None:
        out.append("First release: there is no earlier release to compare with.")
    else:
        out.append(f"Compared with the previous release, {previous.version}"
                   + ("." if previous.card else f" (which has no model card: nothing to compare)."))
    for line in allowed:
        out.append(f"\n**Published with --allow-regression:** {line}.")
    card = current.card or {}
    if card:
        out += ["", "## Metrics", "", _rows(headline(current, previous), "metric", previous, current)]
        classes = per_class(current, previous)
        if classes:
            out += ["", "### Accuracy per class", "", _rows(classes, "class", previous, current)]
        out += ["", "## Where it came from", "", *_hashes(card)]
    host_path = index_url.split("://", 1)[-1]
    scheme = index_url.split("://", 1)[0]
    out += ["", "## Install", "", "With pip, from this project's package registry (a personal access token with "
            "read_api; with a deploy token, its user name instead of `__token__`):", "", "```sh",
            f"pip install {name}=={current.version} --index-url {scheme}://__token__:<your_token>@{host_path}",
            "```", "", "The raw files, without pip (with a deploy token: `--header \"Deploy-Token: ...\"`):",
            "", "```sh"]
    out += [f'curl --fail --header "PRIVATE-TOKEN: <your_token>" -o {file_name} "{url}"' for file_name, url in files]
    out += ["```", "", f"Tag: `{tag}`.", ""]
    return _sign("\n".join(out))
