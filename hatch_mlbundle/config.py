"""The hook's options, read once from its pyproject table into a typed, checked object.

Messages name the option the way hatchling's own do: "Option `x` for build hook `y` ...".
"""
import dataclasses
import os
from pathlib import Path

from .errors import BundleError

MODES = ("auto", "verify", "train")
MODE_ENV = "MLBUNDLE_MODE"
# hatchling itself reads these from a hook's table.
HATCHLING_OPTIONS = frozenset(
    {"enable-by-default", "dependencies", "require-runtime-dependencies", "require-runtime-features", "path"}
)


@dataclasses.dataclass(frozen=True)
class BundleConfig:
    root: Path
    weights: Path
    lock: Path
    card: Path
    train: str
    evaluate: str
    data_dir: Path
    python_path: tuple = ()
    sources: tuple = ()
    eval_sources: tuple = ()
    data: tuple = ()
    data_hint: str = ""
    hyperparameters: dict = dataclasses.field(default_factory=dict)
    mode: str = "auto"
    mode_source: str = "default"
    min_accuracy: float = 0.95
    max_latency_ms: float = 50.0
    generated: dict = dataclasses.field(default_factory=dict)
    build_requires: tuple = ("torch",)


class _Reader:
    """Typed access to a hook table that remembers which keys were used."""

    def __init__(self, table, hook_name):
        self.table = table
        self.hook_name = hook_name
        self.used = set(HATCHLING_OPTIONS)

    def fail(self, key, problem):
        raise BundleError(f"Option `{key}` for build hook `{self.hook_name}` {problem}")

    def get(self, key, kind, default=None, required=False):
        self.used.add(key)
        if key not in self.table:
            if required:
                self.fail(key, "is required (set it in the hook's table in pyproject.toml)")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            name = _KIND_NAMES[kind]
            self.fail(key, f"must be {'an' if name[0] in 'aeiou' else 'a'} {name}, not {type(value).__name__}")
        return value

    def strings(self, key, default=()):
        values = self.get(key, list, list(default))
        if not all(isinstance(v, str) and v for v in values):
            self.fail(key, "must be an array of non-empty strings")
        return tuple(values)

    def callable_ref(self, key):
        value = self.get(key, str, required=True)
        module, _, function = value.partition(":")
        if not module or not function:
            self.fail(key, f"must look like 'package.module:function', not {value!r}")
        return value

    def check_unknown(self):
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            self.fail(unknown[0], f"is not known; known options: {', '.join(sorted(self.used - HATCHLING_OPTIONS))}")


_KIND_NAMES = {str: "string", float: "number", int: "integer", bool: "boolean", list: "array", dict: "table"}


def load_config(root, table, hook_name, environ=os.environ):
    """Build the BundleConfig from the hook's table; every problem is a BundleError naming its key."""
    root = Path(root)
    read = _Reader(table, hook_name)
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
        min_accuracy=read.get("min-accuracy", float, 0.95),
        max_latency_ms=read.get("max-latency-ms", float, 50.0),
        generated={root / k: v for k, v in generated.items()},
        build_requires=read.strings("build-requires", ["torch"]),
    )
    if not 0.0 <= config.min_accuracy <= 1.0:
        read.fail("min-accuracy", f"must be between 0 and 1 (a fraction), not {config.min_accuracy}")
    if config.max_latency_ms <= 0:
        read.fail("max-latency-ms", f"must be positive, not {config.max_latency_ms}")
    if not config.sources:
        read.fail("sources", "must list the files that determine the weights (model and training code)")
    read.check_unknown()
    return config
