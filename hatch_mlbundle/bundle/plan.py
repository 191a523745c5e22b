"""Decide what the build must do (train, evaluate or reuse), from hashes alone: no torch, no project code.

Stops early on what verify mode must refuse (missing or stale weights) and on weights that are not the
bytes the lock names, so a refused build never costs a training run.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

from . import exported, remote
from . import fingerprint as fp
from ..files import sha256_file
from .config import BundleConfig
from .errors import BundleError
from .gates import GateResult, enforce, record_gate, sha256_gate
from .lock import read_lock

TRAIN, EVALUATE, REUSE = "train", "evaluate", "reuse"


@dataclasses.dataclass(frozen=True)
class Plan:
    action: str  # TRAIN, EVALUATE or REUSE
    reason: str
    inputs: dict[str, Any]
    lock: dict[str, Any] | None = None
    verification_key: str | None = None  # what a fresh verification would be recorded under
    checks: tuple[GateResult, ...] = ()  # weights vs lock, records vs files: enforced while deciding

    @property
    def needs_build_requires(self) -> bool:
        return self.action != REUSE


def relative(config: BundleConfig, path: Path) -> str:
    return Path(os.path.relpath(path, config.root)).as_posix()


def verification_key(config: BundleConfig, weights_sha256: str, inputs: dict[str, Any],
                     recorded_torch: str | None) -> str:
    """What a verification depends on: weights, code, data and (when known) torch."""
    return fp.sha256_json(
        {
            "weights": weights_sha256,
            "sources": inputs["sources"],
            "eval_sources": fp.digests(config.root, config.eval_sources, "eval-sources"),
            "data": inputs["data"],
            "torch": inputs["torch"] or recorded_torch,
            **({"exported": sha256_file(config.exported)} if config.exported else {}),
        }
    )


def record_checks(config: BundleConfig, staged: Path | None = None) -> list[GateResult]:
    """Each `records` key against the sha256 of the file it names (in `staged` when training put them there)."""
    def where(path: Path) -> Path:  # what training wrote, else what is in place
        candidate = staged / path.name if staged and path.parent == config.weights.parent else path
        return candidate if candidate.exists() else path

    results = []
    for record, keys in config.records.items():
        name = relative(config, record)
        try:
            claims = json.loads(where(record).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"record {name} cannot be read ({type(exc).__name__}); restore it "
                              f"(`git checkout -- {name}`) or retrain with MLBUNDLE_MODE=train") from None
        for key, target in keys.items():
            claimed = claims.get(key) if isinstance(claims, dict) else None
            actual = sha256_file(where(target)) if where(target).is_file() else "(missing)"
            results.append(record_gate(name, key, claimed, actual, relative(config, target)))
    return results


def _summarise(found: list[str], limit: int = 3) -> str:
    more = f" (+{len(found) - limit} more)" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more


def make_plan(config: BundleConfig, say: Callable[[str], None] = lambda line: None) -> Plan:
    """Decide what the build must do, without torch; stops early on what verify mode must refuse."""
    inputs = fp.collect_inputs(config)
    if config.mode == TRAIN:
        return Plan(TRAIN, f"mode train (from {config.mode_source})", inputs)
    lock = read_lock(config.lock)
    files = [config.weights] + ([config.exported] if config.exported else [])
    if lock and lock.get("references"):
        remote.materialize(config, lock, files, say)
    missing = [relative(config, p) for p, ok in [(f, f.is_file()) for f in files] + [(config.lock, lock)] if not ok]
    if missing:
        if config.mode == "verify":
            raise BundleError(
                f"verify mode: {' and '.join(missing)} missing; build once with MLBUNDLE_MODE=train, "
                "then commit the weights and the lock"
            )
        return Plan(TRAIN, f"no {' and '.join(missing)} yet", inputs)
    gap = exported.lock_gap(config, lock)
    if gap:
        if config.mode == "verify":
            raise BundleError(f"verify mode: {gap}; build once with MLBUNDLE_MODE=train, then commit the files and the lock")
        return Plan(TRAIN, gap, inputs, lock)
    changed = fp.changes(lock["inputs"], inputs, compare_torch=inputs["torch"] is not None)
    model_changes = [c for c in changed if not c.startswith("torch ")]
    if config.mode == "verify" and model_changes:
        raise BundleError(
            f"verify mode: the weights are stale ({_summarise(model_changes)}); retrain with "
            "MLBUNDLE_MODE=train and commit the weights and the lock"
        )
    if config.mode == "auto" and changed:
        return Plan(TRAIN, f"fingerprint changed: {_summarise(changed)}", inputs, lock)
    actual = sha256_file(config.weights)
    checks = (sha256_gate(actual, lock["weights_sha256"], relative(config, config.weights)),
              *exported.checks(config, lock), *record_checks(config))
    enforce(list(checks))
    key = verification_key(config, actual, inputs, lock["inputs"]["torch"])
    if lock["verification"].get("key") == key:
        why = "fingerprint unchanged and these weights were verified with this code and data"
        return Plan(REUSE, why, inputs, lock, checks=checks)
    why = f"torch {inputs['torch']} differs from the lock's {lock['inputs']['torch']}" if changed else "fingerprint unchanged"
    return Plan(EVALUATE, f"{why}; verifying", inputs, lock, key, checks)
