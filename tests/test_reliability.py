"""The reliability matrix: what a user sees when the registry, the network or the machine fails.

1. ``test_registry_fault[<registry>-<fault>]``: 15 faults x 2 registries (pypi, generic) = 30 cases, each a real
   publish (``mlbundle-publish --registry <registry>``, in-process) of a tiny hatchling-built wheel + sdist to the
   local GitLab, with a canary token as GITLAB_TOKEN.

   - transient, retried (or found to have landed) and finished: exit 0, every file "sha256 verified":
     ``500``, ``502``, ``503`` (twice, then answered), ``500-stored`` (stored, then 500: not sent again),
     ``reset`` (connection reset after 64 KiB of the body), ``timeout`` (answer 1.5 s late, ``--timeout 1``),
     ``endless`` (stored, then a 201 whose body never ends), ``drip`` (stored, then a 201 dripping a byte every
     0.3 s, ``--timeout 1``: each socket wait is in time, only a deadline for the whole answer ends it);
   - permanent, reported: exit 1, exactly one line on stderr naming the file (or the PyPI index it read) and
     what to do, no traceback, nothing retried: ``401`` (unknown token), ``403`` (Reporter token), ``404``
     (wrong project id), ``duplicate`` (another job publishes a different file of the same name after our check;
     generic with duplicates forbidden, PyPI "File name has already been taken"), ``too-large`` (size limit),
     ``huge-error`` (a 400 whose message is 50 MB: the line stays a few hundred characters, the summary too);
   - altered in transit: ``flip`` (a proxy inverts one byte of the upload; GitLab stores what arrives, and its
     PyPI index lists the digest the client sent): exit 1, one line naming the file as altered, nothing sent
     after it; a rerun calls it a conflict, never "identical"; the bumped version then publishes;
   - in every case: afterwards no file name twice and no partial upload in the registry, no temp file in its
     storage; after the fault is removed (faults cleared, token made valid or given the Developer role, project
     id corrected, version bumped, limit raised) a rerun exits 0 with exactly one row per file, each checked
     against the local bytes; the canary token never appears in stdout or stderr.
2. ``test_kill_9_during_an_upload``: a publish with a 200 MiB file is SIGKILLed once the registry has received
   part of it; the registry keeps no row and no temp file for it, and a rerun finishes with one row per file.
3. ``test_kill_9_during_training``: ``python -m build --wheel --no-isolation`` in train mode is SIGKILLed after
   "epoch 1/3"; the committed weights, model.json and lock are untouched, and a rerun trains, gates and leaves
   weights, model.json and lock agreeing on one sha256 and no ``.mlbundle-train-*`` directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
import signal
import subprocess
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import pytest
import requests

from helpers import copy_project, run
from hatch_mlbundle.gitlab import Credentials
from localgitlab import Fault
from hatch_mlbundle.publish import run as run_module
from test_publish import (  # noqa: F401 - built_project and project are fixtures used here
    GENERIC, PYTHON, ROOT, VERSION, WHEEL, built_project, ci_env, project, run_publish, writes)

# A token in GitLab's old unprefixed format: only knowing it (not its shape) can keep it out of the output.
CANARY = "Zq8vN3kR7tYw2pLx5mCa"
CANARY_USER = "ci-bot"
BUMPED = "0.3.2"
UPLOAD_ROUTE = {"pypi": ("POST", r"/packages/pypi$"), "generic": ("PUT", r"/packages/generic/")}


# -- the cases ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transient:
    """A fault armed on the first upload of the run; the publish must get through it."""

    fault: Callable[[str, str], Fault]  # (method, path) -> Fault
    sends: int  # times the faulted file may be sent (a 500 after storing is found in the registry instead)
    warning: str  # the stderr line each retry prints, after the file's name
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Permanent:
    """A refusal a retry cannot cure; ``arrange`` sets it up, ``fix`` removes it as the error line says."""

    status: str
    advice: str  # what the one error line must tell the user to do
    role: str | None = "developer"  # the canary's role before the fix; None: a token GitLab does not know
    arrange: Callable = lambda gl, env, monkeypatch: None
    fix: Callable = lambda gl, env, project, bumped: None
    sends: Callable[[str], int] = lambda registry: 1  # writes in the run: the first upload fails, none after it


TRANSIENT = {
    "500": Transient(lambda m, p: Fault(method=m, path=p, status=500, times=2), 3, r"500 Internal Server Error"),
    "500-stored": Transient(lambda m, p: Fault(method=m, path=p, status=500, apply="after"), 1, ""),
    "502": Transient(lambda m, p: Fault(method=m, path=p, status=502, times=2), 3, r"502 Bad Gateway"),
    "503": Transient(lambda m, p: Fault(method=m, path=p, status=503, times=2), 3, r"503 Service Unavailable"),
    "reset": Transient(lambda m, p: Fault(method=m, path=p, kind="reset", after_bytes=65536), 2,
                       r"connection to 127\.0\.0\.1:\d+ reset"),
    "timeout": Transient(lambda m, p: Fault(method=m, path=p, kind="slow", delay=1.5), 2,
                         r"no answer from 127\.0\.0\.1:\d+ within 1 s", ("--timeout", "1")),
    "endless": Transient(lambda m, p: Fault(method=m, path=p, kind="body", status=201, apply="after"), 1, ""),
    "drip": Transient(lambda m, p: Fault(method=m, path=p, kind="body", status=201, apply="after", chunk=1,
                                         delay=0.3), 1, "", ("--timeout", "1")),
}
HUGE_MESSAGE = json.dumps({"message": "400 Bad request - " + "x" * 50_000_000}).encode()


def _wrong_project(gl, env, monkeypatch):
    env["CI_PROJECT_ID"] = "9999"


def _right_project(gl, env, project, bumped):
    env["CI_PROJECT_ID"] = str(gl.project_id)


def _size_limit(gl, env, monkeypatch):
    gl.settings.generic_max_file_size = gl.settings.pypi_max_file_size = 100_000  # model.pth and the wheel: 300 kB


def _raise_limit(gl, env, project, bumped):
    gl.settings.generic_max_file_size = gl.settings.pypi_max_file_size = 5 * 2**30


def _another_job_publishes_first(gl, env, monkeypatch):
    """Between our check and our upload another job publishes a different wheel under the same name and version:
    the one way to reach GitLab's own duplicate refusal, since the check alone turns a known conflict into a
    one-line refusal before anything is sent."""
    gl.settings.generic_duplicates_allowed = False
    real_check = run_module.check_remote
    pending = [True]

    def check_then_compete(items):
        real_check(items)
        if pending and pending.pop():
            upload_other_wheel(gl, items[0].registry)

    monkeypatch.setattr(run_module, "check_remote", check_then_compete)


def _huge_error_on_upload(gl, env, monkeypatch):
    for method, path in UPLOAD_ROUTE.values():  # one of them is used: the run publishes to one registry
        gl.inject(Fault(method=method, path=path, kind="body", status=400, body=HUGE_MESSAGE, size=len(HUGE_MESSAGE)))


def _clear_faults(gl, env, project, bumped):
    gl.clear_faults()


def _bump_version(gl, env, project, bumped):
    shutil.rmtree(project / "dist")
    shutil.copytree(bumped, project / "dist")


def grant(gl, role: str) -> None:
    """Make the canary a token of the project with ``role`` (again: a later grant replaces the earlier one)."""
    gl.add_personal_token(CANARY, user=CANARY_USER, projects={gl.project_id: role})


def _make_token_valid(gl, env, project, bumped):
    grant(gl, "developer")


PERMANENT = {
    "401": Permanent("401 Unauthorized", "it is mistyped, expired or revoked: fix GITLAB_TOKEN", role=None,
                     fix=_make_token_valid, sends=lambda registry: 0),
    "403": Permanent("403 Forbidden", "it needs the api or write_package_registry scope and at least the Developer "
                     "role", role="reporter", fix=_make_token_valid),
    "404": Permanent("404", "check CI_PROJECT_ID (or --project) and the token's membership",
                     arrange=_wrong_project, fix=_right_project),
    "duplicate": Permanent("400", "bump the version", arrange=_another_job_publishes_first, fix=_bump_version,
                           # the files before the wheel, the refused wheel, and the other job's wheel
                           sends=lambda registry: (GENERIC.index(WHEEL) + 1 if registry == "generic" else 1) + 1),
    "too-large": Permanent("400", "larger than the registry's size limit; ask an admin to raise the plan limit",
                           arrange=_size_limit, fix=_raise_limit),
    # its JSON is cut at the 64 KiB read cap, so the start of the body is shown as it is
    "huge-error": Permanent("400", '400 Bad Request: {"message": "400 Bad request - xxxx', arrange=_huge_error_on_upload,
                            fix=_clear_faults),
}
ALTERED = ("flip",)


class StoredTwice(AssertionError):
    """Its own type, so that a known bug's xfail cannot hide any other failure of the same case."""


CASES = [pytest.param(fault, registry, id=f"{registry}-{fault}", )
         for fault in [*TRANSIENT, *PERMANENT, *ALTERED] for registry in ("pypi", "generic")]


# -- helpers ----------------------------------------------------------------------------------------------------------

def wait_until(condition: Callable[[], bool], seconds: float, what) -> None:
    """The server works on a broken or late request in its own thread: give it a bounded time."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what() if callable(what) else what}")
        time.sleep(0.01)


def upload_other_wheel(gl, registry: str) -> None:
    """Another CI job's build of the same version, published with the developer's own token."""
    other = b"another build of the same version"
    if registry == "pypi":
        form = {":action": "file_upload", "protocol_version": "1", "name": "tiny-model", "version": VERSION,
                "filetype": "bdist_wheel", "pyversion": "py3"}
        response = requests.post(gl.pypi_url, data=form, files={"content": (WHEEL, other)},
                                 auth=("dev", gl.private_token), timeout=10)
    else:
        response = requests.put(f"{gl.generic_url}/tiny-model/{VERSION}/{WHEEL}", data=other,
                                headers={"PRIVATE-TOKEN": gl.private_token}, timeout=10)
    assert response.status_code in (200, 201), response.text


def leftovers(gl) -> list[Path]:
    """Half-received uploads still on the registry's disk."""
    return [path for path in gl.storage_dir.rglob("*")
            if path.is_file() and (path.parent.name == "incoming" or path.suffix == ".part")]


def receiving(gl, more_than: int) -> bool:
    """More than ``more_than`` bytes of one upload have reached the registry's disk."""
    for part in leftovers(gl):
        with contextlib.suppress(FileNotFoundError):  # finished or dropped meanwhile
            if part.stat().st_size > more_than:
                return True
    return False


def rows(gl, registry: str, version: str = VERSION) -> list[dict]:
    return gl.package_files(gl.project_id, registry, "tiny-model", version)


def assert_no_row_twice_and_no_temp_file(gl, registry: str) -> None:
    names = [row["file_name"] for row in rows(gl, registry)]
    if sorted(names) != sorted(set(names)):
        raise StoredTwice(f"a file stored twice: {names}")
    assert leftovers(gl) == []


def named(registry: str, file: str | None) -> str:
    """How the publisher names what it was handling: a file, or (None) the PyPI index it reads first."""
    if registry == "generic":
        return f"{file} {VERSION} (generic)"
    return f"{file} (PyPI)" if file else "tiny-model (PyPI index)"


def summary(out: str) -> dict[str, tuple[str, str]]:
    """file -> (result, detail) from the table printed at the end of a run."""
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()
             if re.match(r"\| (pypi|generic) ", line)]
    return {file: (result, detail) for _, file, _, result, detail in cells}


def assert_canary_never_printed(*outputs: str) -> None:
    forms = {CANARY, *Credentials("access", "GITLAB_TOKEN", CANARY).secret_forms()}
    printed = "".join(outputs)
    assert [form for form in forms if form in printed] == []


def generic_sources(project: Path, wheel: Path) -> dict[str, bytes]:
    """The bytes each ``generic-files`` entry stands for: a member of the wheel or a file of the project."""
    entries = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["mlbundle"]["publish"]["generic-files"]
    sources = {}
    with zipfile.ZipFile(wheel) as archive:
        for entry in entries:
            member = entry.removeprefix("wheel:")
            data = archive.read(member) if entry != member else (project / entry).read_bytes()
            sources[PurePosixPath(member).name] = data
    return sources


def assert_published_once(gl, registry: str, project: Path) -> None:
    """Exactly one row per file, each the local bytes (size and sha256), checked here and not by the publisher."""
    wheel = next((project / "dist").glob("*.whl"))
    version = wheel.name.split("-")[1]
    found = rows(gl, registry, version)
    stored = {row["file_name"]: (row["size"], row["sha256"]) for row in found}
    if registry == "pypi":
        local = {path.name: path.read_bytes() for path in (project / "dist").iterdir()}
        assert sorted(row["file_name"] for row in found) == sorted(local)
    else:
        local = generic_sources(project, wheel) | {wheel.name: wheel.read_bytes()}
        order = [name for name in local if name != wheel.name] + ["requirements.txt", wheel.name, "SHA256SUMS"]
        assert [row["file_name"] for row in found] == order  # SHA256SUMS last: its presence means "complete"
        sums = requests.get(f"{gl.generic_url}/tiny-model/{version}/SHA256SUMS",
                            headers={"PRIVATE-TOKEN": gl.private_token}, timeout=10).content
        assert stored["SHA256SUMS"] == (len(sums), hashlib.sha256(sums).hexdigest())
        listed = dict(line.split("  ")[::-1] for line in sums.decode().splitlines())
        assert listed == {name: sha for name, (_, sha) in stored.items() if name != "SHA256SUMS"}
    for name, data in local.items():
        assert stored[name] == (len(data), hashlib.sha256(data).hexdigest()), name


@pytest.fixture(scope="module")
def bumped_dist(built_project, tmp_path_factory) -> Path:
    """The same project at the next version: what the user builds when told to bump it."""
    root = tmp_path_factory.mktemp("bumped") / "project"
    shutil.copytree(built_project, root, ignore=shutil.ignore_patterns("dist"))
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{VERSION}"', f'version = "{BUMPED}"'))
    run([PYTHON, "-m", "build", "--no-isolation", "--outdir", root / "dist", root], check=True)
    return root / "dist"


# -- 1. the registry fault matrix ----------------------------------------------------------------------------------

@dataclass
class Publish:
    """The publish of one case: one registry, the canary as the token, every output checked for it."""

    gl: object
    project: Path
    capfd: object
    registry: str
    env: dict = field(init=False)

    def __post_init__(self):
        self.env = {**ci_env(self.gl), "GITLAB_TOKEN": CANARY}

    def __call__(self, *flags: str) -> tuple[int, str, str]:
        code, out, err = run_publish(self.capfd, self.project, self.env, "--registry", self.registry, *flags)
        assert "Traceback" not in err
        assert_canary_never_printed(out, err)
        return code, out, err


@pytest.mark.parametrize("fault, registry", CASES)
def test_registry_fault(local_gitlab, project, capfd, monkeypatch, request, fault, registry):
    gl = local_gitlab
    publish = Publish(gl, project, capfd, registry)
    files = len(GENERIC) if registry == "generic" else 2
    if fault in TRANSIENT:
        grant(gl, "developer")
        transient_fault_is_survived(publish, TRANSIENT[fault], files)
    elif fault in ALTERED:
        grant(gl, "developer")
        altered_upload_is_caught(publish, request.getfixturevalue("bumped_dist"))
    else:
        case = PERMANENT[fault]
        if case.role:
            grant(gl, case.role)
        bumped = request.getfixturevalue("bumped_dist") if fault == "duplicate" else None
        permanent_fault_is_reported(publish, case, monkeypatch, bumped)
    assert_published_once(gl, registry, project)


def transient_fault_is_survived(publish: Publish, case: Transient, files: int) -> None:
    gl, registry = publish.gl, publish.registry
    fault = case.fault(*UPLOAD_ROUTE[registry])
    gl.inject(fault)
    first = named(registry, "model.pth" if registry == "generic" else WHEEL)
    code, out, err = publish("--quiet", *case.flags)
    assert code == 0, err
    assert set(summary(out).values()) == {("published", "sha256 verified")} and len(summary(out)) == files
    warnings = err.splitlines()  # --quiet: warnings and errors only, and there must be no error
    assert len(warnings) <= case.sends - 1
    for number, line in enumerate(warnings, 1):
        assert re.fullmatch(rf"uploading {re.escape(first)}: {case.warning}; retry {number} of 2 in [\d.]+ s", line)
    # a request the client gave up on may still be at work in the registry: judge it once it is answered
    wait_until(lambda: sum(bool(r["faults"]) for r in gl.requests) == fault.times, 10, "the faulted requests answered")
    assert len(writes(gl)) <= case.sends + files - 1  # no more sends than the fault made necessary
    assert_no_row_twice_and_no_temp_file(gl, registry)
    gl.clear_faults()
    code, out, err = publish("--verbose")
    assert code == 0, err
    assert set(summary(out).values()) == {("identical", "already in the registry")}


def permanent_fault_is_reported(publish: Publish, case: Permanent, monkeypatch, bumped: Path | None) -> None:
    gl, registry = publish.gl, publish.registry
    case.arrange(gl, publish.env, monkeypatch)
    code, out, err = publish("--quiet")
    assert code == 1
    assert len(err.splitlines()) == 1, err[:2000]
    line = err.strip()
    assert len(line) < 600 and len(out) < 5000, line[:2000]  # server text is cut once, and not per row
    table = summary(out)
    if table:  # refused on upload: the table names the one file that failed
        failed = [file for file, (result, _) in table.items() if result == "failed"]
        assert len(failed) == 1, out
        subject = named(registry, failed[0])
    else:  # refused while reading what the registry holds: the first file's check, or the PyPI index
        subject = named(registry, "model.pth" if registry == "generic" else None)
    assert re.fullmatch(rf"(mlbundle-publish: error: )?{re.escape(subject)}: {case.status}\b.*", line), line
    assert case.advice in line, line
    assert len(writes(gl)) == case.sends(registry)  # a refusal is not retried, and nothing is sent after it
    assert_no_row_twice_and_no_temp_file(gl, registry)
    assert "SHA256SUMS" not in [row["file_name"] for row in rows(gl, registry)]
    case.fix(gl, publish.env, publish.project, bumped)
    code, out, err = publish("--verbose")
    assert code == 0, err
    assert {result for result, _ in summary(out).values()} <= {"published", "identical"}
    assert_no_row_twice_and_no_temp_file(gl, registry)


def altered_upload_is_caught(publish: Publish, bumped: Path) -> None:
    gl, registry = publish.gl, publish.registry
    method, path = UPLOAD_ROUTE[registry]
    gl.inject(Fault(method=method, path=path, kind="flip", after_bytes=65536))  # inside the file, past the form
    first = "model.pth" if registry == "generic" else WHEEL
    code, out, err = publish("--quiet")
    assert code == 1
    assert re.fullmatch(rf"{re.escape(first)}: the registry serves sha256 [0-9a-f]{{64}}, the local file has sha256 "
                        r"[0-9a-f]{64}: the upload was altered; delete it in GitLab and publish again\n", err), err
    assert summary(out)[first][0] == "mismatch"
    assert {result for file, (result, _) in summary(out).items() if file != first} == {"not sent"}
    assert len(writes(gl)) == 1 and "SHA256SUMS" not in [row["file_name"] for row in rows(gl, registry)]
    code, out, err = publish("--quiet")  # what the registry holds is not what was sent: never "identical"
    assert code == 1 and summary(out)[first] == ("conflict", f"{first} {VERSION} is already published with different "
                                                             f"content; bump the version" + (
                                                                 " (or pass --allow-generic-overwrite)"
                                                                 if registry == "generic" else ""))
    _bump_version(gl, publish.env, publish.project, bumped)
    code, out, err = publish("--verbose")
    assert code == 0, err
    assert set(summary(out).values()) == {("published", "sha256 verified")}


# -- 2. kill -9 during an upload ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_kill_9_during_an_upload(local_gitlab, loopback_env, project, capfd, tmp_path):
    gl = local_gitlab
    with open(project / "big.bin", "wb") as big:
        big.truncate(200 << 20)  # sparse: written at once, read back as zeros at memory speed
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"INSTRUCTION.md"]', '"INSTRUCTION.md", "big.bin"]', 1))
    log = tmp_path / "publish.log"
    with open(log, "wb") as output:
        child = subprocess.Popen([PYTHON, "-m", "hatch_mlbundle", "publish", "--registry", "generic", "dist"],
                                 # TMPDIR: the publisher's work folder, which a SIGKILL leaves behind, under tmp_path
                                 cwd=project, env={**loopback_env, **ci_env(gl), "PYTHONPATH": str(ROOT),
                                                   "TMPDIR": str(tmp_path)},
                                 stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # more than any other file of the publish holds: these bytes can only be big.bin's
        wait_until(lambda: child.poll() is not None or receiving(gl, 1 << 20), 120, "the registry receiving big.bin")
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL, log.read_text()  # killed mid-upload, not finished first

    def big_uploads() -> list[dict]:
        return [r for r in gl.requests if r["method"] == "PUT" and r["path"].endswith("/big.bin")]

    wait_until(lambda: big_uploads() and not leftovers(gl), 30,
               lambda: f"the registry dropping the broken upload: {big_uploads()}, {leftovers(gl)}")
    assert [r["status"] for r in big_uploads()] == [None]  # the connection broke before any answer
    stored = [row["file_name"] for row in rows(gl, "generic")]
    assert stored == ["model.pth", "model_card.json", "run_tiny.py", "INSTRUCTION.md"]  # big.bin: no row at all
    code, out, err = run_publish(capfd, project, ci_env(gl), "--registry", "generic")
    assert code == 0, err
    assert summary(out)["big.bin"] == ("published", "sha256 verified")
    assert_published_once(gl, "generic", project)
    assert leftovers(gl) == []


# -- 3. kill -9 during training ----------------------------------------------------------------------------------

WEIGHTS_DIR = "model_src/mnist_model/weights"
COMMITTED = ("model.pth", "model.json", "mlbundle.lock")


def archive_names(dist: Path) -> list[str]:
    names = []
    for path in dist.iterdir():
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                names += wheel.namelist()
        else:
            with tarfile.open(path) as sdist:
                names += sdist.getnames()
    return names


@pytest.mark.slow
def test_kill_9_during_training(tmp_path):
    """Killed once training has staged its weights: the project is left as it was, the next build ships no
    leftovers (they are in the system temp directory, not beside the weights), and a rerun completes."""
    copy = copy_project(tmp_path / "project")
    pyproject = copy / "pyproject.toml"
    original = pyproject.read_text()
    text, edits = re.subn(r"^(\[tool\.hatch\.build\.targets\.wheel\.hooks\.custom\.hyperparameters\]\n)",
                          r"\1epochs = 3\n", original, flags=re.M)
    text, more = re.subn(r"^min-accuracy = .*$", "min-accuracy = 0.5", text, flags=re.M)
    text, realistic = re.subn(r"^realistic_\w+ = .*\n", "", text, flags=re.M)  # 3 epochs do not read photos
    assert (edits, more) == (1, 1) and realistic
    pyproject.write_text(text)
    weights = copy / WEIGHTS_DIR
    before = {name: (weights / name).read_bytes() for name in COMMITTED}
    build = [PYTHON, "-m", "build", "--wheel", "--no-isolation", str(copy)]
    staging = tmp_path / "tmp"
    staging.mkdir()
    env = {**os.environ, "MLBUNDLE_MODE": "train", "TMPDIR": str(staging)}

    child = subprocess.Popen(build, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:  # kill once the trained weights are staged (during evaluation), the moment the old code left them
        deadline = time.monotonic() + 300
        while not list(staging.glob("mlbundle-train-*/model.pth")) and child.poll() is None:
            assert time.monotonic() < deadline, "training staged nothing in 300 s"
            time.sleep(0.005)
        assert list(staging.glob("mlbundle-train-*/model.pth")), "the build ended before staging weights"
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the frontend and the backend process it started
        child.wait()
    assert {name: (weights / name).read_bytes() for name in COMMITTED} == before
    pyproject.write_text(original)
    status = run(["git", "-C", copy, "status", "--porcelain", "--untracked-files=all", "--ignored"], check=True)
    assert [line for line in status.stdout.splitlines() if "__pycache__" not in line] == []

    sdist_and_wheel = run([PYTHON, "-m", "build", "--no-isolation", str(copy)], env={"MLBUNDLE_MODE": "verify"},
                          timeout=600)
    assert sdist_and_wheel.returncode == 0, sdist_and_wheel.stdout + sdist_and_wheel.stderr
    assert [name for name in archive_names(copy / "dist") if "mlbundle-train" in name or name.endswith(".tmp")] == []
    shutil.rmtree(copy / "dist")

    pyproject.write_text(text)
    result = run(build, env={"MLBUNDLE_MODE": "train", "TMPDIR": str(staging)}, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "epoch 3/3" in result.stdout + result.stderr
    after = {name: (weights / name).read_bytes() for name in COMMITTED}
    assert after["model.pth"] != before["model.pth"]
    sha = hashlib.sha256(after["model.pth"]).hexdigest()
    assert json.loads(after["mlbundle.lock"])["weights_sha256"] == json.loads(after["model.json"])["sha256"] == sha
    with zipfile.ZipFile(next((copy / "dist").glob("*.whl"))) as wheel:
        assert wheel.read("mnist_model/weights/model.pth") == after["model.pth"]  # the wheel ships the new weights
    # and the killed build's staging, whose process is gone, was cleaned up by this one
    assert list(copy.rglob("*mlbundle-train-*")) == [] and list(staging.glob("mlbundle-train-*")) == []
