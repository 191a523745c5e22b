"""The wheel's long description: a Markdown model card, in the layout of Hugging Face model cards.

What GitLab's package page and ``pip show`` display.  A person writes the prose (what the model does, intended
use, limitations) in a template; the figures are filled in from the same card dict as ``model_card.json``, at
markers ``<!-- mlbundle:NAME -->``, so the page shows the lock's record.  (One seam: a wheel built from an sdist
outside CI has no git commit or commit time for its card, while the description keeps the sdist's.)  ``model-index-metrics`` goes
in the YAML front matter (a JSON flow list, which is YAML too), the others in the body.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from ..tables import human_size, markdown_table
from .card import model_card
from .config import BundleConfig
from .errors import BundleError
from .lock import read_lock

MARKER = re.compile(r"<!--\s*mlbundle:([\w-]+)\s*-->")


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in sorted(metrics.items()) if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _model_index(card: dict[str, Any]) -> str:
    """The gated metrics: the ones the build held the model to."""
    gated = card.get("gates", {})
    return json.dumps([{"type": key, "value": value, "name": key}
                       for key, value in _scalars(card["metrics"]).items() if key in gated])


def _metrics(card: dict[str, Any]) -> str:
    gates = card.get("gates", {})
    rows = [(f"`{key}`", f"{value:g}", gates.get(key, "")) for key, value in _scalars(card["metrics"]).items()]
    return markdown_table(("metric", "value", "gate"), rows)


def _per_class(card: dict[str, Any]) -> str:
    per_class = card["metrics"].get("per_class_accuracy")
    if not isinstance(per_class, dict):
        return "(no per-class figures in this record)"
    return markdown_table(("class", "accuracy"), ((k, f"{v * 100:.1f}%" if isinstance(v, (int, float)) else "-")
                                                  for k, v in per_class.items()))


def _training(card: dict[str, Any]) -> str:
    hyper = card.get("hyperparameters") or {}
    lines = [markdown_table(("hyper-parameter", "value"), ((k, json.dumps(v)) for k, v in sorted(hyper.items())))]
    lines += ["", markdown_table(("data file", "sha256"),
                                 ((f"`{k}`", f"`{v}`") for k, v in sorted(card.get("data_sha256", {}).items())))]
    return "\n".join(lines)


def _provenance(card: dict[str, Any]) -> str:
    rows = [("weights", f"`{card['weights']['file']}` ({human_size(card['metrics'].get('weights_bytes', 0))})"
             if card["metrics"].get("weights_bytes") else f"`{card['weights']['file']}`"),
            ("weights sha256", f"`{card['weights']['sha256']}`")]
    if card.get("exported"):
        rows.append((f"{card['exported']['file']} sha256", f"`{card['exported']['sha256']}`"))
    rows += [("fingerprint", f"`{card['fingerprint']}`"), ("torch", card.get("torch_version") or "-"),
             ("git commit", f"`{card['git_commit']}`" if card.get("git_commit") else "-"),
             ("built", card.get("built") or "-")]
    rows += [(f"`{k}` sha256", f"`{v}`") for k, v in sorted(card.get("source_sha256", {}).items())]
    return markdown_table(("", ""), rows)


SECTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "name": lambda card: card["name"],
    "version": lambda card: card["version"],
    "model-index-metrics": _model_index,
    "metrics": _metrics,
    "per-class": _per_class,
    "training": _training,
    "provenance": _provenance,
}


def render(template: Path, card: dict[str, Any]) -> str:
    """The template with every marker filled in from ``card``; an unknown marker is an error naming it."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"Option `description`: cannot read {template} ({exc.strerror}); "
                          "create the model card template or fix the path") from None

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in SECTIONS:
            raise BundleError(f"{template.name}: unknown marker `mlbundle:{name}`; known: {', '.join(SECTIONS)}")
        if "metrics" not in card and name not in ("name", "version"):
            return "[]" if name == "model-index-metrics" else "(not measured yet: no lock)"
        return SECTIONS[name](card)

    return MARKER.sub(fill, text)


def long_description(config: BundleConfig, name: str, version: str) -> dict[str, str]:
    """``project.readme`` as hatchling takes it: the rendered card, as Markdown."""
    if config.description is None:
        raise BundleError("the metadata hook `mlbundle` needs the build hook's option `description`: the path of "
                          "the Markdown model card template")
    lock = read_lock(config.lock)
    # No lock yet (a project's first build, which trains): the figures follow once training wrote one
    # (`refresh`); a build that cannot train stops in the build hook with its own message.
    card = model_card(name, version, config, lock) if lock else {"name": name, "version": version}
    return {"content-type": "text/markdown", "text": render(config.description, card)}


def refresh(metadata: Any, config: BundleConfig) -> None:
    """After training wrote a new lock: render the description again into hatchling's cached core metadata."""
    core = metadata.core
    if config.description is not None and core.readme_path == "" and core.readme_content_type == "text/markdown":
        # hatchling's (private) cache of the description: a hatchling without it must not keep old figures silently
        if not hasattr(core, "_readme"):
            raise BundleError("this hatchling keeps the description elsewhere; build again to describe the new "
                              "weights (or pin hatchling<2)")
        core._readme = long_description(config, metadata.name, metadata.version)["text"]
