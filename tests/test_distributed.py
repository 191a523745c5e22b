"""`launcher = "torchrun"`: the model trained by torch.distributed workers (gloo on this CPU), through real builds.

One node of two processes, two nodes of one process each (two torchrun invocations meeting at 127.0.0.1), and
a worker killed mid-run. The same world size and seed give the same weights, whichever way the world is laid out.
"""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from hatch_mlbundle.bundle.config import load_config
from hatch_mlbundle.bundle.errors import BundleError
from helpers import PYTHON, ROOT, copy_project, run
from test_hook_build import LOCK, MANIFEST, WEIGHTS, wheel_in
from test_hook_plan import hook_table, plan_for

TABLE = "[tool.hatch.build.targets.wheel.hooks.custom]\n"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def distributed_copy(destination, **options):
    """A copy of the project whose hook trains through torchrun with these options, under the project's own gates."""
    project = copy_project(destination)
    lines = "".join(f"{key.replace('_', '-')} = {json.dumps(value)}\n" for key, value in options.items())
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace(TABLE, TABLE + 'launcher = "torchrun"\n' + lines)
    pyproject.write_text(text)
    return project


def build(project, **env):
    """`python -m build --wheel` in this environment (torch is here), retraining."""
    return subprocess.Popen([PYTHON, "-m", "build", "--wheel", "--no-isolation", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, MLBUNDLE_MODE="train", **env))


def finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@pytest.fixture(scope="module")
def one_node(tmp_path_factory):
    """The default regimen trained by 2 gloo workers on one node, built into a wheel."""
    project = distributed_copy(tmp_path_factory.mktemp("ddp") / "project", nproc_per_node=2)
    status, output = finish(build(project))
    return project, status, output


# ---- config and fingerprint (no torch) ---------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"launcher": "slurm"}, "Option `launcher` for build hook `mlbundle` must be one of 'in-process', 'torchrun', not 'slurm'"),
    ({"nproc-per-node": 2}, "Option `nproc-per-node` for build hook `mlbundle` is a torchrun option; set `launcher = \"torchrun\"`"),
    ({"launcher": "torchrun", "nproc-per-node": 0}, "Option `nproc-per-node` for build hook `mlbundle` must be at least 1, not 0"),
    ({"launcher": "torchrun", "nnodes": "2"}, "Option `nnodes` for build hook `mlbundle` must be an integer, not str"),
    ({"launcher": "torchrun", "nnodes": 2}, "Option `rdzv-endpoint` for build hook `mlbundle` is required with nnodes = 2"),
    ({"launcher": "torchrun", "rdzv-endpoint": "10.0.0.5"}, "Option `rdzv-endpoint` for build hook `mlbundle` must be host:port with a port from 1 to 65535, not '10.0.0.5'"),
    ({"launcher": "torchrun", "rdzv-endpoint": "h:99999"}, "Option `rdzv-endpoint` for build hook `mlbundle` must be host:port with a port from 1 to 65535"),
    ({"launcher": "torchrun", "rdzv-endpoint": "[::1:29400"}, "Option `rdzv-endpoint` for build hook `mlbundle` must be host:port"),
    ({"launcher": "torchrun", "rdzv-endpoint": "h:1", "rdzv-backend": "c10"}, "Option `rdzv-backend` for build hook `mlbundle` must be one of c10d, etcd, etcd-v2, static (torchrun's), not 'c10'"),
    ({"launcher": "torchrun", "rdzv-backend": "c10d"}, "Option `rdzv-backend` for build hook `mlbundle` is only used with `rdzv-endpoint`"),
    ({"launcher": "torchrun", "rdzv-endpoint": "h:1", "rdzv-timeout": 0}, "Option `rdzv-timeout` for build hook `mlbundle` must be at least 1, not 0"),
    ({"launcher": "torchrun", "max-restarts": -1}, "Option `max-restarts` for build hook `mlbundle` must be at least 0, not -1"),
])
def test_launcher_options_are_checked_and_name_the_key(change, message):
    with pytest.raises(BundleError) as error:
        load_config(ROOT, dict(hook_table(ROOT), **change), "mlbundle", environ={})
    assert str(error.value).startswith(message), error.value


def test_the_world_size_is_in_the_fingerprint_and_one_process_keeps_the_old_one():
    """More processes share each batch: other weights, so auto retrains and verify refuses; torchrun with one
    process trains exactly as the build's own process did."""
    plan = plan_for(ROOT, launcher="torchrun", **{"nproc-per-node": 2})
    assert plan.action == "train" and plan.reason == "fingerprint changed: world size 1 -> 2 (launcher)"
    with pytest.raises(BundleError, match=r"verify mode: the weights are stale \(world size 1 -> 2 \(launcher\)\)"):
        plan_for(ROOT, environ={"MLBUNDLE_MODE": "verify"}, launcher="torchrun", nnodes=2, **{"rdzv-endpoint": "h:1"})
    assert plan_for(ROOT, launcher="torchrun").action == "reuse"


# ---- real runs ---------------------------------------------------------------------------------


def test_two_gloo_workers_train_a_model_that_passes_the_gates(one_node):
    project, status, output = one_node
    assert status == 0, output
    assert "mlbundle: torchrun: 2 processes on one node" in output and "epoch 40/40" in output
    assert output.count("epoch 40/40") == 1  # one worker reports
    assert "Traceback" not in output
    lock = json.loads((project / LOCK).read_text())
    assert lock["inputs"]["world_size"] == 2 and lock["weights_sha256"] == sha256(project / WEIGHTS)
    assert lock["training"]["world_size"] == 2 and lock["training"]["device"] == "cpu" and lock["training"]["backend"] == "gloo"
    assert lock["verification"]["metrics"]["accuracy"] >= 0.98  # the project's gate, as in one process
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        assert wheel.read("mnist_model/weights/model.pth") == (project / WEIGHTS).read_bytes()
        card = json.loads(wheel.read("mnist_model/model_card.json"))
    assert card["weights"]["sha256"] == lock["weights_sha256"] and card["metrics"] == lock["verification"]["metrics"]
    assert sha256(project / WEIGHTS) != sha256(ROOT / WEIGHTS)  # another world size, other weights


def test_two_nodes_meet_on_loopback_and_train_the_same_weights(one_node, tmp_path):
    """Two torchrun invocations with --nnodes=2 (the build, and `join` in its own checkout): the same world
    size and seed as one node of two processes, so bit-identical weights."""
    options = {"nnodes": 2, "nproc_per_node": 1, "rdzv_endpoint": f"127.0.0.1:{free_port()}"}
    builder = distributed_copy(tmp_path / "node0", **options)
    other = distributed_copy(tmp_path / "node1", **options)
    building = build(builder)
    joined = run([PYTHON, "-m", "hatch_mlbundle", "join", "--root", other], timeout=600)
    status, output = finish(building)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert "join: this node's share of training is done" in joined.stdout
    assert status == 0, output
    assert "mlbundle: torchrun: 2 processes on 2 nodes" in output
    assert "python -m hatch_mlbundle join" in output
    assert output.count("epoch 40/40") == 1 and joined.stdout.count("epoch 40/40") == 1  # each machine shows the run
    assert sha256(builder / WEIGHTS) == sha256(one_node[0] / WEIGHTS)
    assert (other / WEIGHTS).read_bytes() == (ROOT / WEIGHTS).read_bytes()  # the joining node keeps nothing


def _processes(marker, needle):
    """pid -> (parent pid, environment) of the processes whose command line names `needle` and `marker`."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = dict(v.split(b"=", 1) for v in (entry / "environ").read_bytes().split(b"\0") if b"=" in v)
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if needle.encode() in command and any(marker.encode() in part for part in command):
            found[int(entry.name)] = (parent, environ)
    return found


def _workers(marker):
    """pid -> LOCAL_RANK of the torchrun workers whose command line names `marker` (not torchrun itself)."""
    found = _processes(marker, "hatch_mlbundle.bundle.worker")
    return {pid: int(env[b"LOCAL_RANK"]) for pid, (_, env) in found.items() if b"LOCAL_RANK" in env}


def kill_a_worker(project, temp):
    """Build `project` with its temp directory in `temp`; SIGKILL local rank 1 once training reports epoch 2."""
    building = build(project, TMPDIR=str(temp))
    lines = []
    for line in building.stdout:
        lines.append(line)
        if line.startswith("epoch 2/") and lines.count(line) == 1:
            (victim,) = [pid for pid, rank in _workers(str(temp)).items() if rank == 1]
            os.kill(victim, signal.SIGKILL)
    building.wait(timeout=60)
    return building.returncode, "".join(lines)


def test_a_worker_killed_mid_run_fails_the_build_cleanly_and_changes_nothing(tmp_path):
    project = distributed_copy(tmp_path / "project", nproc_per_node=2)
    before = {name: (project / name).read_bytes() for name in (WEIGHTS, MANIFEST, LOCK)}
    temp = tmp_path / "tmp"
    temp.mkdir()
    status, output = kill_a_worker(project, temp)
    assert status != 0
    assert ("mlbundle: torchrun: worker rank 1 was killed by SIGKILL; nothing was written (weights, manifest and "
            "lock unchanged) (set MLBUNDLE_DEBUG=1 for torchrun's report)") in output, output
    assert "Traceback" not in output
    assert {name: (project / name).read_bytes() for name in before} == before
    assert not list((project / "dist").glob("*.whl"))
    assert not _workers(str(temp))  # torchrun stopped the other worker
    leftovers = [p.name for p in temp.iterdir() if p.name.startswith(("mlbundle-", "torchelastic_"))]
    assert not leftovers  # staging, torchrun's directory and its logs are gone


def test_torchrun_dies_with_the_process_that_started_it(tmp_path):
    """A node waiting at the rendezvous (nothing printed, no pipe to break) whose own process is killed outright,
    so no cleanup of ours runs: the kernel tells torchrun, which stops."""
    project = distributed_copy(tmp_path / "node1", nnodes=2, rdzv_endpoint=f"127.0.0.1:{free_port()}", rdzv_timeout=300)
    temp = tmp_path / "tmp"
    temp.mkdir()
    joining = subprocess.Popen([PYTHON, "-m", "hatch_mlbundle", "join", "--root", str(project)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, TMPDIR=str(temp)))
    for _ in range(300):
        if _processes(str(temp), "torch.distributed.run"):
            break
        time.sleep(0.1)
    assert _processes(str(temp), "torch.distributed.run")
    time.sleep(2)  # at the rendezvous
    joining.kill()
    joining.wait()
    for _ in range(100):
        if not _processes(str(temp), "torch.distributed.run"):
            break
        time.sleep(0.1)
    assert not _processes(str(temp), "torch.distributed.run")


def test_with_max_restarts_torchrun_restarts_the_group_and_training_gives_the_same_weights(one_node, tmp_path):
    project = distributed_copy(tmp_path / "project", nproc_per_node=2, max_restarts=1)
    temp = tmp_path / "tmp"
    temp.mkdir()
    status, output = kill_a_worker(project, temp)
    assert status == 0, output
    assert output.count("epoch 2/40") == 2 and output.count("epoch 40/40") == 1  # started over, finished once
    assert sha256(project / WEIGHTS) == sha256(one_node[0] / WEIGHTS)


def test_join_refuses_a_project_that_trains_on_one_machine(tmp_path):
    result = run([PYTHON, "-m", "hatch_mlbundle", "join", "--root", ROOT])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "python -m hatch_mlbundle join: error: the build hook `custom` trains on one machine (set "
        "`launcher = \"torchrun\"` and `nnodes` above 1 to train on several); there is nothing to join")


def test_the_projects_own_error_in_a_worker_is_the_same_one_line(tmp_path):
    project = distributed_copy(tmp_path / "project", nproc_per_node=2)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('regimen = "default"\n', 'regimen = "default"\nepoch = 3\n'))
    status, output = finish(build(project))
    assert status != 0 and "Traceback" not in output
    assert ("mlbundle: mnist_model.train:train: unknown hyper-parameter(s) epoch; known: augment, batch_size, "
            "distortions, dropout, epochs") in output
    assert re.search(r"epochs.*\(torchrun worker rank-[01]\); nothing was written \(weights, manifest and lock "
                     r"unchanged\)$", output, re.MULTILINE), output  # every rank raised it: the first one's


def test_the_cause_is_named_not_its_echoes(tmp_path):
    """Rank 1's own error, not rank 0's lost connection; a killed worker, not the peer gloo aborted after it."""
    from hatch_mlbundle.bundle.failures import explain
    from hatch_mlbundle.bundle.torchrun import Torchrun

    errors = tmp_path / "errors"
    errors.mkdir()
    (errors / "rank-1").write_text("tiny:train: data/points.csv is truncated on this node")
    (errors / "rank-0").write_text("tiny:train failed: RuntimeError: [pair.cc:561] Connection closed by peer")
    assert explain(errors, "", 1, Torchrun(), "id").startswith(
        "tiny:train: data/points.csv is truncated on this node (torchrun worker rank-1); nothing was written")
    report = ("Failures:\n[1]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 12)\n"
              "Root Cause (first observed failure):\n[0]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : -6 (pid: 11)\n")
    assert explain(errors, report, 1, Torchrun(), "id").startswith("torchrun: worker rank 1 was killed by SIGKILL;")


def test_a_node_alone_waits_its_rendezvous_timeout_then_says_who_it_waited_for(tmp_path):
    endpoint = f"127.0.0.1:{free_port()}"
    project = distributed_copy(tmp_path / "node1", nnodes=2, rdzv_endpoint=endpoint, rdzv_timeout=3)
    result = run([PYTHON, "-m", "hatch_mlbundle", "join", "--root", project], timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert f"mlbundle: joining the build at {endpoint} (rendezvous mlbundle-" in result.stdout
    error = result.stderr.strip()
    assert error.startswith("python -m hatch_mlbundle join: error: torchrun: the 2 nodes did not all join the "
                            "rendezvous mlbundle-"), error
    assert error.endswith(f"at {endpoint} within 3 s; start the build first, then `python -m hatch_mlbundle join` on "
                          "each other node, in a checkout of the same commit with the same data and torch (the "
                          "rendezvous id ends with their fingerprint); nothing was written (weights, manifest and "
                          "lock unchanged)"), error
