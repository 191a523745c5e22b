"""The hook's options, read once from its pyproject table into a typed, checked object.

Messages name the option the way hatchling's own do: "Option `x` for build hook `y` ...".
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import BundleError
from .gates import COMPARISONS, ROWS, Gate, row_for
from .reader import Reader
from .torchrun import Torchrun, read_launcher

MODES = ("auto", "verify", "train")
MODE_ENV = "MLBUNDLE_MODE"
BUNDLES = ("embed", "reference")


@dataclasses.dataclass(frozen=True)
class BundleConfig:
    root: Path
    weights: Path
    lock: Path
    card: Path
    train: str
    evaluate: str
    data_dir: Path
    python_path: tuple[Path, ...] = ()
    sources: tuple[str, ...] = ()
    eval_sources: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    data_hint: str = ""
    hyperparameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    mode: str = "auto"
    mode_source: str = "default"
    gates: tuple[Gate, ...] = ()
    records: dict[Path, dict[str, Path]] = dataclasses.field(default_factory=dict)  # JSON file -> key -> file
    generated: dict[Path, str] = dataclasses.field(default_factory=dict)
    build_requires: tuple[str, ...] = ("torch",)
    export: str | None = None  # the project's exporter, called right after training (exported.py)
    exported: Path | None = None  # the file it writes, beside the weights
    description: Path | None = None  # Markdown model card template: the wheel's long description (description.py)
    bundle: str = "embed"  # "reference": the wheel carries pointers and a fetcher, not the weights (reference.py)
    fetcher: Path | None = None  # where the hook writes that fetcher (a module of the package), with "reference"
    launcher: Torchrun | None = None  # None: train in the build's process; else torchrun's options (torchrun.py)
    hook_name: str = "mlbundle"
    options: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # the table as written (workers read it)


def _gates(read: Reader) -> tuple[Gate, ...]:
    """`gates = {metric = ">= x"}`; the older `min-accuracy`/`max-latency-ms` options still set theirs.

    With no `gates` table, the older options keep their defaults (accuracy >= 0.95, latency <= 50 ms).
    """
    table = read.get("gates", dict, None)
    if table == {}:
        read.fail("gates", "is empty, which would let any model through: name at least one rule, or remove "
                           "the table for the defaults (accuracy >= 0.95, latency_ms <= 50)")
    read.used.update(row.option for row in ROWS.values() if row.option)  # still known, whether set or not
    gates = []
    for metric, row in ROWS.items():
        if row.option and (row.option in read.table or table is None):
            if table and metric in table:
                read.fail(f"gates.{metric}", f"repeats option `{row.option}`; keep one")
            gates.append(Gate(metric, row.comparison, read.get(row.option, float, row.default), row.option))
    for metric, rule in (table or {}).items():
        option = f"gates.{metric}"
        match = re.fullmatch(r"\s*(>=|<=|>|<)\s*(\S+)\s*", rule) if isinstance(rule, str) else None
        try:
            gates.append(Gate(metric, match[1], float(match[2]), option))
        except (TypeError, ValueError):
            read.fail(option, f"must be a rule like \">= 0.98\" (one of {', '.join(COMPARISONS)}, then a number), "
                              f"not {rule!r}")
    for gate in gates:
        if not math.isfinite(gate.threshold):
            read.fail(gate.option, f"must be a finite number, not {gate.threshold:g}")
        problem = row_for(gate.metric).valid(gate.threshold)
        if problem:
            read.fail(gate.option, f"{problem}, not {gate.threshold:g}")
    return tuple(gates)


def _records(read: Reader, root: Path) -> dict[Path, dict[str, Path]]:
    """`records = {"w/model.json" = {sha256 = "w/model.pth"}}`: JSON files the runtime trusts, and which
    file's sha256 each key must hold. The build checks them as the runtime will, so no wheel ships a
    record that refuses its own weights."""
    table = read.get("records", dict, {})
    for record, keys in table.items():
        if not (isinstance(keys, dict) and keys and all(isinstance(v, str) and v for v in keys.values())):
            read.fail(f"records.{record}", "must map keys of that JSON file to the files whose sha256 they hold, "
                                           "e.g. { sha256 = \"weights/model.pth\" }")
    return {root / record: {key: root / target for key, target in keys.items()} for record, keys in table.items()}


def _exported(read: Reader, root: Path, weights: Path) -> Path | None:
    """`exported`, the file `export` writes: both or neither, and beside the weights (they move in together)."""
    name = read.get("exported", str)
    if ("export" in read.table) != (name is not None):
        read.fail("exported" if name is None else "export", "is required with "
                  f"`{'export' if name is None else 'exported'}`: the exporter and the file it writes go together")
    if name is not None and (root / name).parent != weights.parent:
        read.fail("exported", f"must be beside the weights ({weights.parent.relative_to(root).as_posix()}/), not {name!r}")
    return root / name if name else None


def _bundle(read: Reader, root: Path) -> tuple[str, Path | None]:
    """`bundle = "embed" | "reference"`; "reference" needs `fetcher`, the module path the runtime imports."""
    bundle = read.get("bundle", str, "embed")
    if bundle not in BUNDLES:
        read.fail("bundle", f"must be one of {', '.join(map(repr, BUNDLES))}, not {bundle!r}")
    fetcher = read.get("fetcher", str)
    if bundle == "reference" and fetcher is None:
        read.fail("bundle", "is \"reference\", which needs `fetcher` = \"<package dir>/_fetch.py\": where the hook "
                            "writes the module the installed package fetches its weights with")
    if bundle == "embed" and fetcher is not None:
        read.fail("fetcher", "is only used with bundle = \"reference\"; remove it, or set `bundle`")
    if fetcher is not None and not fetcher.endswith(".py"):
        read.fail("fetcher", f"must name a .py file inside the package, not {fetcher!r}")
    return bundle, root / fetcher if fetcher else None


def _optional_path(root: Path, name: str | None) -> Path | None:
    return root / name if name else None


def load_config(root: str | os.PathLike, table: Mapping[str, Any], hook_name: str,
                environ: Mapping[str, str] = os.environ) -> BundleConfig:
    """Build the BundleConfig from the hook's table; every problem is a BundleError naming its key."""
    root = Path(root)
    read = Reader(table, hook_name)
    weights = root / read.get("weights", str, required=True)
    mode = read.get("mode", str, "auto")
    mode_source = "option `mode`" if "mode" in table else "default"
    if environ.get(MODE_ENV):
        mode, mode_source = environ[MODE_ENV].strip().lower(), f"{MODE_ENV}"
    if mode not in MODES:
        where = f"{MODE_ENV}={mode!r}" if mode_source == MODE_ENV else f"Option `mode` = {mode!r}"
        raise BundleError(f"{where} for build hook `{hook_name}` is not one of {', '.join(MODES)}")
    generated = read.get("generated", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) and ":" in v for k, v in generated.items()):
        read.fail("generated", "must map file paths to 'package.module:function' strings")
    data_dir = root / read.get("data-dir", str, required=True)
    bundle, fetcher = _bundle(read, root)
    config = BundleConfig(
        root=root,
        weights=weights,
        lock=root / read.get("lock", str, str(weights.with_name("mlbundle.lock").relative_to(root))),
        card=root / read.get("card", str, str(weights.with_name("model_card.json").relative_to(root))),
        train=read.callable_ref("train"),
        evaluate=read.callable_ref("evaluate"),
        data_dir=data_dir,
        python_path=tuple(root / p for p in read.strings("python-path", ["."])),
        sources=read.strings("sources"),
        eval_sources=read.strings("eval-sources"),
        data=read.strings("data", [str(data_dir)]),
        data_hint=read.get("data-hint", str, ""),
        hyperparameters=read.get("hyperparameters", dict, {}),
        mode=mode,
        mode_source=mode_source,
        gates=_gates(read),
        records=_records(read, root),
        generated={root / k: v for k, v in generated.items()},
        build_requires=read.strings("build-requires", ["torch"]),
        export=read.callable_ref("export", required=False),
        exported=_exported(read, root, weights),
        description=_optional_path(root, read.get("description", str)),
        bundle=bundle,
        fetcher=fetcher,
        launcher=read_launcher(read),
        hook_name=hook_name,
        options=dict(table),
    )
    if not config.sources:
        read.fail("sources", "must list the files that determine the weights (model and training code)")
    read.check_unknown()
    return config
