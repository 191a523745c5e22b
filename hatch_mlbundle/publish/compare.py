"""This release's headline metrics against the previous release's, and the regression gate on them.

The figures come from the two model cards (``metrics``: ``accuracy`` and ``per_class_accuracy`` as fractions,
``latency_ms``, ``weights_bytes``), so the gate judges exactly what the release notes and the notification show.
A metric missing from either card is shown as missing and never gated: there is nothing to compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..tables import human_size
from .history import Release


@dataclass(frozen=True)
class Row:
    label: str
    before: float | None
    after: float | None
    show: Callable[[float], str]
    delta: Callable[[float, float], str]

    def cells(self) -> tuple[str, str, str]:
        before = "-" if self.before is None else self.show(self.before)
        after = "-" if self.after is None else self.show(self.after)
        change = "" if self.before is None or self.after is None else self.delta(self.before, self.after)
        return before, after, change


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _points(before: float, after: float) -> str:
    return f"{(after - before) * 100:+.2f} points"


def _relative(before: float, after: float) -> str:
    return f"{(after / before - 1) * 100:+.0f}%" if before else ""


def _metrics(release: Release | None) -> dict[str, Any]:
    metrics = (release.card or {}).get("metrics") if release else None
    return metrics if isinstance(metrics, dict) else {}


def _number(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def headline(current: Release, previous: Release | None) -> list[Row]:
    """Accuracy, latency and model size, before and after."""
    before, after = _metrics(previous), _metrics(current)
    return [
        Row("accuracy", _number(before, "accuracy"), _number(after, "accuracy"), _percent, _points),
        Row("latency (ms per image)", _number(before, "latency_ms"), _number(after, "latency_ms"),
            lambda v: f"{v:g}", _relative),
        Row("model size", _number(before, "weights_bytes"), _number(after, "weights_bytes"), human_size, _relative),
    ]


def per_class(current: Release, previous: Release | None) -> list[Row]:
    before = _metrics(previous).get("per_class_accuracy") or {}
    after = _metrics(current).get("per_class_accuracy") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    return [Row(str(label), _number(before, label), _number(after, label), _percent, _points)
            for label in sorted(set(before) | set(after), key=lambda k: (len(k), k))]


def _valid(metrics: dict[str, Any], key: str) -> tuple[bool, float | None]:
    """(present, value): a value only when it is a finite number in range (accuracy a fraction, latency >= 0)."""
    if key not in metrics:
        return False, None
    value = _number(metrics, key)
    if value is None or not math.isfinite(value) or value < 0 or (key == "accuracy" and value > 1):
        return True, None
    return True, value


def _unreadable(key: str, current: Release, previous: Release) -> str | None:
    """Why ``key`` cannot be compared although it should be, or None (comparable, or absent from both cards)."""
    (had, before), (has, after) = _valid(_metrics(previous), key), _valid(_metrics(current), key)
    if not had and not has:
        return None  # a model without this metric: nothing to gate
    for present, value, release in ((has, after, current), (had, before, previous)):
        if value is None:
            state = "is not a valid number" if present else "is missing"
            return f"{key} of {release.version} {state} in its model_card.json: cannot compare"
    return None


def regressions(current: Release, previous: Release | None, *, max_accuracy_drop: float,
                max_latency_increase: float) -> list[str]:
    """What got worse beyond the limits (``max_accuracy_drop`` in percentage points, ``max_latency_increase`` in
    percent), each with both figures and both versions; and what cannot be compared although it should be (a
    previous release without a readable card, a figure missing, NaN or out of range), which is refused the same
    way: a gate that cannot look must not pass.  Empty when there is no previous release or nothing got worse."""
    if previous is None:
        return []
    if previous.card is None:
        return [f"release {previous.version} has no readable model_card.json in the generic registry: cannot compare"]
    found = [problem for key in ("accuracy", "latency_ms") if (problem := _unreadable(key, current, previous))]
    if found:
        return found
    before, after = _metrics(previous), _metrics(current)
    accuracy = _number(before, "accuracy"), _number(after, "accuracy")
    if None not in accuracy and (accuracy[0] - accuracy[1]) * 100 > max_accuracy_drop + 1e-9:
        found.append(f"accuracy fell from {_percent(accuracy[0])} in {previous.version} to {_percent(accuracy[1])} in "
                     f"{current.version} ({_points(*accuracy)}; max-accuracy-drop is {max_accuracy_drop:g})")
    latency = _number(before, "latency_ms"), _number(after, "latency_ms")
    if None not in latency and latency[0] > 0 and (latency[1] / latency[0] - 1) * 100 > max_latency_increase + 1e-9:
        found.append(f"latency grew from {latency[0]:g} ms in {previous.version} to {latency[1]:g} ms in "
                     f"{current.version} ({_relative(*latency)}; max-latency-increase is {max_latency_increase:g}%)")
    return found
