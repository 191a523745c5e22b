"""Versions come from git (hatch-vcs): a tag builds its version, later commits dev versions, an sdist keeps its own.

Real builds of a fresh copy (verify mode: the weights are reused, never retrained: tagging never retrains).
"""
import shutil
import tarfile
from pathlib import Path

from helpers import BIN, PYTHON, copy_project, run

GIT = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]


def offline():
    from test_hook_build import OFFLINE

    return dict(OFFLINE, MLBUNDLE_MODE="verify")


def build(project, *args, env=None):
    """`hatch build` of `project`; the names of what it wrote (dist/ is emptied first)."""
    shutil.rmtree(project / "dist", ignore_errors=True)
    result = run([BIN / "hatch", "build", *args], cwd=project, env=dict(offline(), **(env or {})))
    assert result.returncode == 0, result.stdout + result.stderr
    if "sdist" not in args:  # the hook runs for wheels; the version is not in the fingerprint: no retraining
        assert "mlbundle: reuse" in result.stdout + result.stderr
    return sorted(path.name for path in (project / "dist").iterdir())


def commit(project, message):
    (project / "NOTES.txt").write_text(message)
    run(GIT + ["-C", project, "add", "NOTES.txt"], check=True)
    run(GIT + ["-C", project, "commit", "-qm", message], check=True)


def test_a_tag_builds_its_version_and_each_later_commit_a_new_dev_version(tmp_path):
    project = copy_project(tmp_path / "project", tag="v1.1.0")
    assert build(project) == ["mnist_model-1.1.0-py3-none-any.whl", "mnist_model-1.1.0.tar.gz"]
    commit(project, "one")
    assert build(project, "-t", "wheel") == ["mnist_model-1.1.1.dev1-py3-none-any.whl"]  # no +g<hash> local part
    commit(project, "two")
    assert build(project, "-t", "sdist") == ["mnist_model-1.1.1.dev2.tar.gz"]
    # the sdist has no .git: its PKG-INFO keeps the version when pip builds the wheel from it
    with tarfile.open(project / "dist" / "mnist_model-1.1.1.dev2.tar.gz") as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    assert not (source / ".git").exists()
    result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "out", source], env=offline())
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mnist_model-1.1.1.dev2-py3-none-any.whl"]


def test_only_v_tags_are_versions(tmp_path):
    """The pipeline releases tags v*; another tag (release-2.0.0, 1.5.0) must not move the versions either."""
    project = copy_project(tmp_path / "project", tag="v1.1.0")
    commit(project, "one")
    for other in ("release-2.0.0", "1.5.0"):
        run(GIT + ["-C", project, "tag", other], check=True)
    assert build(project, "-t", "wheel") == ["mnist_model-1.1.1.dev1-py3-none-any.whl"]


def test_outside_git_the_build_says_how_to_name_a_version(tmp_path):
    project = copy_project(tmp_path / "project", tag=None)
    shutil.rmtree(project / ".git")
    result = run([BIN / "hatch", "build", "-t", "wheel"], cwd=project, env=offline())
    assert result.returncode != 0
    assert "SETUPTOOLS_SCM_PRETEND_VERSION" in result.stdout + result.stderr
    assert build(project, "-t", "wheel", env={"SETUPTOOLS_SCM_PRETEND_VERSION": "2.0.0"}) == [
        "mnist_model-2.0.0-py3-none-any.whl"]
