"""Quality gates as data: the wheel is refused unless the model is what the lock says and good enough.

A gate is a rule `metric comparison threshold` (`accuracy >= 0.98`) set in config. `ROWS` says, per known
metric, how it reads in the table, which older option also sets it, what threshold is valid, what to advise,
and, for what the hook measures itself (the weights' size), how to measure it. Any other number the
project's `evaluate` returns can be gated from config alone (`gates = {rmse = "<= 0.3"}`) and gets a plain
row, so a regression model or a new gate needs no change here; a new kind of row is one entry in `ROWS`.
Training, verification, the printed table and the model card all read the same `Gate` list.
"""
from __future__ import annotations

import dataclasses
import operator
from pathlib import Path
from typing import Callable, Mapping

from ..tables import markdown_table
from .errors import BundleError

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}


def _plain(value: float) -> str:
    """Every digit that matters, as Python prints a float (0.30000004 stays that), none that does not (10)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must be between 0 and 1 (a fraction)"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


_PARITY_ADVICE = ("the exported model does not compute what the weights do: check the exporter (opset, "
                  "operators), retrain with MLBUNDLE_MODE=train to export again, or change {option}")


@dataclasses.dataclass(frozen=True)
class Row:
    """How one metric is gated and shown."""

    label: str  # its name in the table and in "gate X failed"
    advice: str  # what to do when it fails; {option} names where the threshold was set
    measured: Callable[[float], str] = _plain
    threshold: Callable[[float], str] = _plain
    option: str | None = None  # the older option that sets it (`min-accuracy`), still accepted
    comparison: str = ""  # ... with this comparison
    default: float | None = None  # ... and this threshold when no `gates` table is given
    valid: Callable[[float], str | None] = lambda value: None
    measure: Callable[[Path], float] | None = None  # measured by the hook from the weights file


ROWS: dict[str, Row] = {
    "accuracy": Row(
        "accuracy", "improve the model or its hyper-parameters and retrain, or lower {option}",
        measured=lambda v: f"{v * 100:.2f}%", threshold=lambda v: f"{v * 100:.2f}%",
        option="min-accuracy", comparison=">=", default=0.95, valid=_fraction),
    "latency_ms": Row(
        "latency", "make inference cheaper, or raise {option} if this machine is slow",
        measured=lambda v: f"{v:.2f} ms/image", threshold=lambda v: f"{v:g} ms",
        option="max-latency-ms", comparison="<=", default=50.0, valid=_positive),
    "weights_bytes": Row(
        "weights size", "make the model smaller (fewer or narrower layers, lower precision), or raise {option}",
        measured=lambda v: f"{v:,.0f} bytes", threshold=lambda v: f"{v:,.0f} bytes", valid=_positive,
        measure=lambda weights: weights.stat().st_size),
    # Parity of an exported model (`export`) with the weights, as the project's evaluate reports it.
    "parity_max_abs_diff": Row("parity max abs diff", _PARITY_ADVICE, measured=lambda v: f"{v:.2e}",
                               threshold=lambda v: f"{v:.0e}", valid=_not_negative),
    "parity_argmax_mismatches": Row("parity answers", _PARITY_ADVICE, measured=lambda v: f"{v:.0f} differ",
                                    threshold=lambda v: f"{v:.0f}", valid=_not_negative),
}


def row_for(metric: str) -> Row:
    return ROWS.get(metric) or Row(metric, "improve the model and retrain, or change {option}")


@dataclasses.dataclass(frozen=True)
class GateResult:
    name: str
    measured: str
    threshold: str
    passed: bool
    advice: str

    def failure(self) -> str:
        return f"gate {self.name} failed: measured {self.measured}, needs {self.threshold}; {self.advice}"


@dataclasses.dataclass(frozen=True)
class Gate:
    metric: str
    comparison: str
    threshold: float
    option: str  # where it was set, for messages: `min-accuracy` or `gates.accuracy`

    @property
    def rule(self) -> str:
        """The rule as config writes it (and the model card records it): `>= 0.98`."""
        return f"{self.comparison} {_plain(self.threshold)}"

    def check(self, value: float) -> GateResult:
        row = row_for(self.metric)
        return GateResult(
            row.label, row.measured(value), f"{self.comparison} {row.threshold(self.threshold)} ({self.option})",
            COMPARISONS[self.comparison](value, self.threshold), row.advice.format(option=self.option))


def measures(weights: Path) -> dict[str, float]:
    """What the hook measures itself, recorded beside the project's metrics."""
    return {metric: row.measure(weights) for metric, row in ROWS.items() if row.measure}


def check_all(gates: tuple[Gate, ...], metrics: Mapping[str, object], weights: Path, source: str) -> list[GateResult]:
    """Every gate against `metrics` (what `source`, the evaluate function, returned) and the weights file."""
    results = []
    for gate in gates:
        measure = row_for(gate.metric).measure
        value = measure(weights) if measure else metrics.get(gate.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise BundleError(f"evaluate function {source} returned no numeric `{gate.metric}`, which gate "
                              f"`{gate.option}` needs: return it, or remove the gate")
        results.append(gate.check(value))
    return results


def sha256_gate(actual: str, expected: str, weights_name: str, label: str = "sha256") -> GateResult:
    """Not a metric: the weights (or the exported model) must be the bytes the lock names."""
    return GateResult(
        label, actual[:12], f"= {expected[:12]} (lock)", actual == expected,
        f"{weights_name} was changed after it was locked: restore it (`git checkout -- {weights_name}`) "
        "or retrain with MLBUNDLE_MODE=train")


def record_gate(record: str, key: str, claimed: object, actual: str, file_name: str) -> GateResult:
    """A record the runtime trusts (a manifest's sha256) must name the bytes that ship."""
    shown = claimed[:12] if isinstance(claimed, str) else repr(claimed)
    return GateResult(
        f"{record} {key}", shown, f"= {actual[:12]} ({file_name})", claimed == actual,
        f"{record} does not describe {file_name}, so the installed package would refuse it: restore both "
        f"(`git checkout -- {record} {file_name}`) or retrain with MLBUNDLE_MODE=train")


def table(results: list[GateResult]) -> str:
    return markdown_table(("gate", "measured", "threshold", "result"),
                          ((r.name, r.measured, r.threshold, "pass" if r.passed else "FAIL") for r in results))


def enforce(results: list[GateResult]) -> None:
    for result in results:
        if not result.passed:
            raise BundleError(result.failure())
