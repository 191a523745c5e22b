"""Train or verify, gate, and write what goes into the wheel: the steps behind the hook.

Decide first (cheap: hashes only), then act.  Only training and a fresh
evaluation import the project's code and torch; a build where nothing changed
reuses the verification recorded in the lock.
"""
import contextlib
import dataclasses
import importlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from . import fingerprint as fp
from .card import model_card
from .errors import BundleError
from .gates import enforce, metric_gates, sha256_gate, table
from .lock import make_lock, read_lock, write_json_atomic, write_text_atomic

TRAIN, EVALUATE, REUSE = "train", "evaluate", "reuse"
TEMP_PREFIX = ".mlbundle-train-"
DEBUG_ENV = "MLBUNDLE_DEBUG"


@dataclasses.dataclass(frozen=True)
class Plan:
    action: str  # TRAIN, EVALUATE or REUSE
    reason: str
    inputs: dict
    lock: dict = None
    verification_key: str = None  # what a fresh verification would be recorded under
    sha256_check: object = None  # the weights-vs-lock gate, already enforced while deciding

    @property
    def needs_build_requires(self):
        return self.action != REUSE


def relative(config, path):
    return Path(os.path.relpath(path, config.root)).as_posix()


def verification_key(config, weights_sha256, inputs, recorded_torch):
    """What a verification depends on: weights, code, data and (when known) torch."""
    return fp.sha256_json(
        {
            "weights": weights_sha256,
            "sources": inputs["sources"],
            "eval_sources": fp.digests(config.root, config.eval_sources, "eval-sources"),
            "data": inputs["data"],
            "torch": inputs["torch"] or recorded_torch,
        }
    )


def _summarise(found, limit=3):
    more = f" (+{len(found) - limit} more)" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more


def make_plan(config):
    """Decide what the build must do, without torch; stops early on what verify mode must refuse."""
    inputs = fp.collect_inputs(config)
    if config.mode == TRAIN:
        return Plan(TRAIN, f"mode train (from {config.mode_source})", inputs)
    lock = read_lock(config.lock)
    missing = [relative(config, p) for p, ok in ((config.weights, config.weights.is_file()), (config.lock, lock)) if not ok]
    if missing:
        if config.mode == "verify":
            raise BundleError(
                f"verify mode: {' and '.join(missing)} missing; build once with MLBUNDLE_MODE=train, "
                "then commit the weights and the lock"
            )
        return Plan(TRAIN, f"no {' and '.join(missing)} yet", inputs)
    changed = fp.changes(lock["inputs"], inputs, compare_torch=inputs["torch"] is not None)
    model_changes = [c for c in changed if not c.startswith("torch ")]
    if config.mode == "verify" and model_changes:
        raise BundleError(
            f"verify mode: the weights are stale ({_summarise(model_changes)}); retrain with "
            "MLBUNDLE_MODE=train and commit the weights and the lock"
        )
    if config.mode == "auto" and changed:
        return Plan(TRAIN, f"fingerprint changed: {_summarise(changed)}", inputs, lock)
    actual = fp.sha256_file(config.weights)
    checked = sha256_gate(actual, lock["weights_sha256"], relative(config, config.weights))
    enforce([checked])
    key = verification_key(config, actual, inputs, lock["inputs"]["torch"])
    if lock["verification"].get("key") == key:
        why = "fingerprint unchanged and these weights were verified with this code and data"
        return Plan(REUSE, why, inputs, lock, sha256_check=checked)
    why = f"torch {inputs['torch']} differs from the lock's {lock['inputs']['torch']}" if changed else "fingerprint unchanged"
    return Plan(EVALUATE, f"{why}; verifying", inputs, lock, key, checked)


@contextlib.contextmanager
def project_path(config):
    """The project's own code importable for the duration of a call."""
    added = [str(p) for p in config.python_path if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            sys.path.remove(entry)


def load_callable(config, reference, option):
    module_name, _, name = reference.partition(":")
    with project_path(config):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise BundleError(
                f"Option `{option}` = {reference!r}: cannot import {module_name} ({exc}); "
                "check `python-path` and the build requirements"
            ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise BundleError(f"Option `{option}` = {reference!r}: {module_name} has no function {name}")
    return function


def call_project(config, reference, option, *args, **kwargs):
    """Call the project's train/evaluate; its failures become one line (the traceback with MLBUNDLE_DEBUG=1)."""
    function = load_callable(config, reference, option)
    try:
        with project_path(config):
            return function(*args, **kwargs)
    except (OSError, ValueError, LookupError) as exc:  # the project's own "you must do X" errors
        if os.environ.get(DEBUG_ENV):
            raise
        raise BundleError(f"{reference}: {exc}") from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise BundleError(f"{reference} failed: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)") from None


def require_build_requires(config, plan):
    """Training and evaluating need `build-requires` (torch); say so in one line instead of an ImportError."""
    missing = [req for req in config.build_requires if fp.installed_version(requirement_name(req)) is None]
    if missing:
        raise BundleError(
            f"{', '.join(missing)} not installed in this build environment, and this build must {plan.action} "
            f"({plan.reason}); isolated builds (pip, python -m build, hatch) install `build-requires` themselves, "
            f"for --no-isolation builds run `pip install {' '.join(repr(m) for m in missing)}` first"
        )


def requirement_name(requirement):
    return re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0]


def evaluate(config, weights):
    metrics = call_project(config, config.evaluate, "evaluate", str(weights), str(config.data_dir))
    if not isinstance(metrics, dict):
        raise BundleError(f"{config.evaluate} returned {type(metrics).__name__}, not a dict of metrics")
    return metrics


def clean_stale_temp_dirs(config):
    """A build killed during training leaves its temp directory; nothing in it was ever used."""
    for stale in config.weights.parent.glob(TEMP_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def train(config, plan, display):
    """Train into a temp directory, gate, then move the files in and write the lock last."""
    config.weights.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_dirs(config)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=config.weights.parent) as tmp:
        staged = Path(tmp) / config.weights.name
        summary = call_project(
            config, config.train, "train", data_dir=str(config.data_dir), weights_path=str(staged),
            log=display.display_info, **config.hyperparameters,
        )
        if not staged.is_file():
            raise BundleError(f"{config.train} returned without writing weights to the path it was given")
        metrics = evaluate(config, staged)
        results = metric_gates(metrics, config)
        display.display_info(table(results))
        enforce(results)
        for produced in sorted(Path(tmp).iterdir()):  # the weights and whatever the project writes beside them
            os.replace(produced, config.weights.parent / produced.name)
    sha = fp.sha256_file(config.weights)
    inputs = dict(plan.inputs, torch=fp.installed_version("torch"))
    lock = make_lock(fp.fingerprint(inputs), inputs, sha, metrics, verification_key(config, sha, inputs, None))
    if isinstance(summary, dict):
        lock["training"] = summary
    write_json_atomic(config.lock, lock)
    return lock


def verify(config, plan, display):
    """Gate the locked weights, on a fresh evaluation or on the one recorded for these exact inputs.

    In auto mode a fresh verification that passes is recorded in the lock, so the
    next build (and CI's verify build) can reuse it; verify mode never writes.
    """
    metrics = plan.lock["verification"]["metrics"] if plan.action == REUSE else evaluate(config, config.weights)
    results = [plan.sha256_check] + metric_gates(metrics, config)
    display.display_info(table(results))
    enforce(results)
    if plan.action == EVALUATE and config.mode == "auto":
        lock = dict(plan.lock, verification={"key": plan.verification_key, "metrics": metrics})
        write_json_atomic(config.lock, lock)
        display.display_info(f"mlbundle: recorded this verification in {relative(config, config.lock)}")
        return lock
    return plan.lock


def write_generated(config):
    """Files rendered by the project (e.g. a stand-alone runner) for the wheel; returns their paths."""
    written = []
    for path, reference in sorted(config.generated.items()):
        text = call_project(config, reference, "generated")
        if not isinstance(text, str):
            raise BundleError(f"Option `generated`: {reference} returned {type(text).__name__}, not the file's text")
        write_text_atomic(path, text)
        written.append(path)
    return written


def run(config, plan, display, name, version):
    """Carry out the plan; returns the generated files' paths relative to the root (the build artifacts)."""
    display.display_info(f"mlbundle: {plan.action}: {plan.reason}")
    if plan.needs_build_requires:
        require_build_requires(config, plan)
    lock = train(config, plan, display) if plan.action == TRAIN else verify(config, plan, display)
    write_json_atomic(config.card, model_card(name, version, config, lock))
    artifacts = [config.card] + write_generated(config)
    names = [relative(config, path) for path in artifacts]
    display.display_success(f"mlbundle: {relative(config, config.weights)} passed the gates; wrote {', '.join(names)}")
    return names
