"""What the mlbundle build hook costs and decides, measured with `hatch build -t wheel`; prints tables.

    .venv/bin/python bench/bench_build.py                  # 1-3 minutes, most of it installing torch
    .venv/bin/python bench/bench_build.py --out /tmp/build.md

Everything happens in a copy of the project (tests/helpers.copy_project) with hatch's data directory
(its build environments) in the same temp directory, so the real repository and hatch's own
environments are never touched, and the gigabytes of a torch install go away at the end.

1. no-op rebuild: the first build creates hatch's build environment (not timed against anything);
   then builds with the hook and with `HATCH_BUILD_NO_HOOKS=true`, alternated, median of 3
   each (target <= 1.5x).  The same pair with `python -m hatchling build` inside hatch's
   build environment shows the hook's own share, without hatch's dependency inspection.
2. README.md touched: must not retrain (the hook says reuse or evaluate; the weights' sha256 is
   unchanged).
3. `epochs = 2` added to the hook's hyper-parameters, auto mode: must retrain (the hook says
   train).  This build installs torch into hatch's build environment first.
"""
import argparse
import hashlib
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

from common import ROOT, machine_line, markdown_table, median, progress, publish, run_child, verdict

sys.path.insert(0, str(ROOT / "tests"))

from helpers import copy_project  # noqa: E402

HATCH = ROOT / ".venv" / "bin" / "hatch"
WEIGHTS = Path("model_src/mnist_model/weights/model.pth")
HYPERPARAMETERS = "[tool.hatch.build.targets.wheel.hooks.custom.hyperparameters]\n"
HOOK_LINE = re.compile(r"^mlbundle: (?P<action>train|evaluate|reuse): (?P<reason>.*)$", re.MULTILINE)
NO_HOOKS = {"HATCH_BUILD_NO_HOOKS": "true"}
RATIO_TARGET = 1.5
REPETITIONS = 3


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Builds:
    """Builds of one project copy, all with hatch's data directory inside the temp directory."""

    def __init__(self, project, hatch_data):
        self.project = project
        self.env = {"HATCH_DATA_DIR": str(hatch_data), "MLBUNDLE_MODE": "auto"}

    def hatch(self, out_dir, hooks=True, check=True):
        extra = {} if hooks else NO_HOOKS
        return run_child([HATCH, "build", "-t", "wheel", out_dir], env={**self.env, **extra}, cwd=self.project,
                         check=check)

    def hatchling(self, python, out_dir, hooks=True):
        """The backend alone, in hatch's build environment: what the hook itself costs."""
        flags = [] if hooks else ["--no-hooks"]
        return run_child([python, "-m", "hatchling", "build", "-t", "wheel", "-d", out_dir, *flags], env=self.env,
                         cwd=self.project)

    def build_python(self):
        found = run_child([HATCH, "env", "find", "hatch-build"], env=self.env, cwd=self.project)
        return Path(found.stdout.strip()) / "bin" / "python"


def paired_medians(build, out_dirs):
    """Median wall of builds with and without hooks, alternated so that load hits both alike."""
    walls = {True: [], False: []}
    for _ in range(REPETITIONS):
        for hooks in (True, False):
            walls[hooks].append(build(out_dirs[hooks], hooks=hooks).wall)
    return median(walls[True]), median(walls[False])


def only_wheel(directory):
    wheels = sorted(Path(directory).glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"bench: expected one wheel in {directory}, found {len(wheels)}")
    return wheels[0]


def no_op_rows(builds, tmp):
    out_dirs = {True: tmp / "dist-hook", False: tmp / "dist-no-hooks"}
    progress("first build: creates hatch's build environment")
    first = builds.hatch(out_dirs[True])
    progress(f"no-op rebuilds, hatch build -t wheel, with and without hooks, {REPETITIONS} each")
    hook, bare = paired_medians(builds.hatch, out_dirs)
    python = builds.build_python()
    progress(f"no-op rebuilds, python -m hatchling build in hatch's build environment, {REPETITIONS} each")
    hook_alone, bare_alone = paired_medians(lambda out, hooks: builds.hatchling(python, out, hooks), out_dirs)
    sizes = {hooks: only_wheel(d).stat().st_size / 1024 for hooks, d in out_dirs.items()}
    rows = [
        [f"`hatch build -t wheel`, no-op (s, median of {REPETITIONS})", f"{hook:.2f}", f"{bare:.2f}",
         f"{hook / bare:.2f}x", f"<= {RATIO_TARGET}x", verdict(hook / bare <= RATIO_TARGET)],
        [f"`python -m hatchling build -t wheel` in hatch's build env (s, median of {REPETITIONS})",
         f"{hook_alone:.2f}", f"{bare_alone:.2f}", f"{hook_alone / bare_alone:.2f}x", "", "-"],
        ["first `hatch build` (creates the build env) (s)", f"{first.wall:.1f}", "", "", "", "-"],
        ["wheel size (KiB)", f"{sizes[True]:.0f}", f"{sizes[False]:.0f}", "", "", "-"],
    ]
    return rows, first, only_wheel(out_dirs[True])


def hook_said(child):
    """The hook's decision line, and on failure the last line (the gate or the error)."""
    output = child.stdout + child.stderr
    decision = HOOK_LINE.search(output)
    said = f"{decision['action']}: {decision['reason']}" if decision else "(no mlbundle line)"
    if child.returncode:  # the refusal, without its advice
        said += " / " + (output.strip().splitlines() or [""])[-1].split("; ")[0]
    return (decision["action"] if decision else None), said


def change_row(name, child, weights_before, weights_after, must_train):
    action, said = hook_said(child)
    unchanged = weights_before == weights_after
    if must_train:  # a build the gates refuse must leave the weights as they were
        expected, ok = "retrains", action == "train" and (child.returncode == 0 or unchanged)
    else:
        expected = "no training, weights unchanged"
        ok = action in ("reuse", "evaluate") and child.returncode == 0 and unchanged
    weights = f"{weights_after[:12]} {'unchanged' if unchanged else 'changed'}"
    return [name, f"{child.wall:.1f}", str(child.returncode), said, weights, expected, verdict(ok)]


def change_rows(builds, first, tmp):
    """The first build, a README.md touch and a hyper-parameter change, in that order, in the same copy."""
    weights = builds.project / WEIGHTS
    original = sha256(weights)
    rows = [change_row("none (first build)", first, original, original, must_train=False)]

    progress("rebuild after touching README.md")
    readme = builds.project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nTouched by bench_build.py.\n", encoding="utf-8")
    child = builds.hatch(tmp / "dist-readme")
    rows.append(change_row("README.md touched", child, original, sha256(weights), must_train=False))

    progress("rebuild after adding epochs = 2 (auto mode): installs torch into the build env, then trains")
    pyproject = builds.project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if HYPERPARAMETERS not in text:
        raise SystemExit(f"bench: {pyproject} has no {HYPERPARAMETERS.strip()} table to change")
    pyproject.write_text(text.replace(HYPERPARAMETERS, HYPERPARAMETERS + "epochs = 2\n"), encoding="utf-8")
    child = builds.hatch(tmp / "dist-epochs", check=False)
    rows.append(change_row("`epochs = 2` added (auto mode)", child, original, sha256(weights), must_train=True))
    return rows


def contents_rows(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return [[info.filename, f"{info.file_size:,}"] for info in archive.infolist()]


def plugin_wheel(tmp):
    """hatch-mlbundle as other projects install it (the local registry is not in it)."""
    progress("building the hatch-mlbundle wheel")
    run_child([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
               tmp / "plugin", ROOT / "hatch_mlbundle"], check=True)
    return next((tmp / "plugin").glob("*.whl"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the tables, as markdown, to this file")
    args = parser.parse_args(argv)
    os.environ.pop("HATCH_BUILD_NO_HOOKS", None)  # the builds "with the hook" must run it
    machine = machine_line(f"hatch at {HATCH}")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmp = Path(tmp)
        progress(f"copying the project to {tmp / 'project'}")
        builds = Builds(copy_project(tmp / "project"), tmp / "hatch-data")
        timing, first, wheel = no_op_rows(builds, tmp)
        contents = contents_rows(wheel)
        changes = change_rows(builds, first, tmp)
        wheel_name = wheel.name
        plugin = plugin_wheel(tmp)
        plugin_name, plugin_size, plugin_contents = plugin.name, plugin.stat().st_size, contents_rows(plugin)
    tables = [
        markdown_table(("measure", "with the hook", "hooks disabled", "ratio", "target", "verdict"), timing),
        markdown_table(("change (in a copy)", "build wall (s)", "exit", "hook said", "weights sha256",
                        "expected", "verdict"), changes),
        f"Contents of {wheel_name} (no-op build with the hook):\n\n" + markdown_table(("file", "bytes"), contents),
        f"The plugin distribution, {plugin_name}: {plugin_size:,} bytes, {len(plugin_contents)} files "
        "(no local registry code):\n\n" + markdown_table(("file", "bytes"), plugin_contents),
    ]
    notes = ["Hooks disabled: `HATCH_BUILD_NO_HOOKS=true` (and `--no-hooks` for hatchling); MLBUNDLE_MODE=auto "
             "throughout.  The `epochs = 2` build's wall includes installing torch into hatch's new build "
             "environment (pip, from this machine's disk)."]
    publish("Build hook: hatch build -t wheel", machine, tables, notes, args.out)


if __name__ == "__main__":
    main()
