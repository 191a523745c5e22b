"""Quality gates: the wheel is refused unless the model is what the lock says and good enough."""
import dataclasses

from .errors import BundleError


@dataclasses.dataclass(frozen=True)
class GateResult:
    name: str
    measured: str
    threshold: str
    passed: bool
    advice: str

    def failure(self):
        return f"gate {self.name} failed: measured {self.measured}, needs {self.threshold}; {self.advice}"


def sha256_gate(actual, expected, weights_name):
    return GateResult(
        "sha256",
        actual[:12],
        f"= {expected[:12]} (lock)",
        actual == expected,
        f"{weights_name} was changed after it was locked: restore it (`git checkout -- {weights_name}`) "
        "or retrain with MLBUNDLE_MODE=train",
    )


def metric_gates(metrics, config):
    """Accuracy and latency against the configured thresholds."""
    for key in ("accuracy", "latency_ms"):
        if not isinstance(metrics.get(key), (int, float)):
            raise BundleError(f"evaluate function {config.evaluate} returned no numeric `{key}`; it must return both")
    return [
        GateResult(
            "accuracy",
            f"{metrics['accuracy'] * 100:.2f}%",
            f">= {config.min_accuracy * 100:.2f}% (min-accuracy)",
            metrics["accuracy"] >= config.min_accuracy,
            "improve the model or its hyper-parameters and retrain, or lower min-accuracy",
        ),
        GateResult(
            "latency",
            f"{metrics['latency_ms']:.2f} ms/image",
            f"<= {config.max_latency_ms:g} ms (max-latency-ms)",
            metrics["latency_ms"] <= config.max_latency_ms,
            "make inference cheaper, or raise max-latency-ms if this machine is slow",
        ),
    ]


def table(results):
    rows = [("gate", "measured", "threshold", "result")]
    rows += [(r.name, r.measured, r.threshold, "pass" if r.passed else "FAIL") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def enforce(results):
    for result in results:
        if not result.passed:
            raise BundleError(result.failure())
