"""Shared test helpers: a copy of the project as a fresh clone would have it, subprocesses, venvs."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def project_files(root=ROOT):
    """Tracked and untracked-but-not-ignored files: what `git clone` of this state would give."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout
    return [name for name in out.decode().split("\0") if name and (root / name).is_file()]


def copy_project(destination, root=ROOT, tag="v1.0.0"):
    """Copy the project into `destination` (a git repo with one commit, like a fresh clone), tagged `tag`
    (the version hatch-vcs gives it: 1.0.0 by default) unless tag is None."""
    destination = Path(destination)
    for name in project_files(root):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    git = ["git", "-C", str(destination), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "snapshot"], check=True)
    if tag:
        subprocess.run(git + ["tag", tag], check=True)
    return destination


def run(args, cwd=None, env=None, check=False, timeout=900, input=None):
    """Run a command, capturing text output; extra env is merged into os.environ."""
    full_env = dict(os.environ, **(env or {}))
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def fresh_venv(path, with_torch=True):
    """A new virtual environment; with_torch makes this venv's torch/pillow visible through a .pth
    (a real install of torch is 5 GB and minutes; what we test is our package, not torch's)."""
    path = Path(path)
    run([PYTHON, "-m", "venv", path], check=True)
    if with_torch:
        # The venv's own old setuptools would shadow the one torch requires.
        run([path / "bin" / "pip", "uninstall", "--yes", "--quiet", "setuptools"], check=True)
        site = Path(sysconfig.get_paths()["purelib"])
        venv_site = next((path / "lib").glob("python*/site-packages"))
        (venv_site / "_outer_site.pth").write_text(str(site) + "\n")
    return path


def venv_bin(venv, name):
    return Path(venv) / "bin" / name
