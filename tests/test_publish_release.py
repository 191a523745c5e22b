"""Publishing a tag: a GitLab Release with notes from the model card and links to every file, the regression gate
against the previous release, and the notification; checked through python-gitlab and a real webhook receiver.

A tiny hatchling project is built per version (its card's metrics chosen by the test); every publish goes through
the real command line, in-process, against the local GitLab.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import gitlab
import pytest

from hatch_mlbundle.publish.cli import main
from conftest import closed_port
from localgitlab import Fault

PROJECT = 1217
CANARY = "CANARY-webhook-secret-5f1d"
PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tiny-model"
version = "{version}"

[tool.hatch.build.targets.wheel]
packages = ["src/tiny_model"]

[tool.mlbundle.publish]
generic-files = ["wheel:tiny_model/model_card.json", "wheel:tiny_model/weights.bin"]
"""


def card(version, accuracy, latency=0.2, per_class=(0.99, 0.98), git_commit="1" * 40):
    return {"name": "tiny-model", "version": version, "weights": {"file": "weights.bin", "sha256": "ab" * 32},
            "metrics": {"accuracy": accuracy, "latency_ms": latency, "weights_bytes": 90701,
                        "per_class_accuracy": {str(i): v for i, v in enumerate(per_class)}},
            "fingerprint": "cd" * 32, "git_commit": git_commit, "built": "2026-12-01T10:00:00Z",
            "data_sha256": {"data/train": "ef" * 32}, "source_sha256": {"src/net.py": "01" * 32}}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """build(version, accuracy, ...) -> dist directory of the tiny project at that version, with that card."""
    def make(version, accuracy, **metrics):
        root = tmp_path_factory.mktemp(f"tiny-{version}")
        package = root / "src" / "tiny_model"
        package.mkdir(parents=True)
        (root / "pyproject.toml").write_text(PYPROJECT.format(version=version))
        (package / "__init__.py").write_text("")
        (package / "weights.bin").write_bytes(version.encode() * 1000)
        (package / "model_card.json").write_text(json.dumps(card(version, accuracy, **metrics)))  # NaN stays NaN
        subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(root / "dist"), str(root)],
                       check=True, capture_output=True)
        return root
    return make


def publish(root, gl, capfd, *args, notify="", **env):
    env = {"CI_API_V4_URL": gl.api_url, "CI_PROJECT_ID": str(PROJECT), "CI_JOB_TOKEN": gl.job_token,
           "MLBUNDLE_NOTIFY_URLS": notify, **env}
    code = main(["--root", str(root), "--quiet", str(root / "dist"), *args], env=env)
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture
def api(local_gitlab):
    """python-gitlab on the local GitLab, as the developer: what a person scripting GitLab would see."""
    with gitlab.Gitlab(local_gitlab.url, private_token=local_gitlab.private_token) as client:
        yield client.projects.get(PROJECT, lazy=True)


def test_a_tag_makes_a_release_with_notes_and_a_package_link_to_every_file(build, local_gitlab, api, capfd):
    first = build("1.0.0", 0.98)
    code, out, err = publish(first, local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 0, out + err
    assert "First release" in api.releases.get("v1.0.0").description

    second = build("1.1.0", 0.985, per_class=(1.0, 0.97))
    code, out, err = publish(second, local_gitlab, capfd, "--tag", "v1.1.0")
    assert code == 0, out + err
    assert "| release  | release v1.1.0" in out and "published" in out
    release = api.releases.get("v1.1.0")
    assert release.name == "tiny-model 1.1.0" and release.tag_name == "v1.1.0"
    notes = release.description
    assert "Compared with the previous release, 1.0.0." in notes
    assert re.search(r"^\| accuracy +\| 98\.00% +\| 98\.50% +\| \+0\.50 points \|$", notes, re.MULTILINE)
    assert re.search(r"^\| 1 +\| 98\.00% +\| 97\.00% +\| -1\.00 points \|$", notes, re.MULTILINE)  # per class
    assert "ab" * 32 in notes and "ef" * 32 in notes and "01" * 32 in notes  # weights, data and source hashes
    assert f"pip install tiny-model==1.1.0 --index-url http://__token__:<your_token>@127.0.0.1:" in notes
    assert f'/projects/{PROJECT}/packages/generic/tiny-model/1.1.0/weights.bin"' in notes  # curl line
    links = {link.name: link for link in release.links.list(get_all=True)}
    (wheel,) = (second / "dist").glob("*.whl")
    generic = ["model_card.json", "weights.bin", "requirements.txt", wheel.name, "SHA256SUMS"]
    pypi = [f"{wheel.name} (PyPI)", "tiny_model-1.1.0.tar.gz (PyPI)"]
    assert sorted(links) == sorted(generic + pypi)
    assert {link.link_type for link in links.values()} == {"package"}
    for name in (f"{wheel.name} (PyPI)", wheel.name):  # each link serves the wheel, as curl would fetch it
        fetched = subprocess.run(["curl", "--silent", "--fail", "--header", f"PRIVATE-TOKEN: {local_gitlab.private_token}",
                                  links[name].url], capture_output=True, check=True, timeout=30)
        assert fetched.stdout == wheel.read_bytes()


def test_a_rerun_leaves_a_complete_release_alone_and_completes_a_partial_one(build, local_gitlab, api, capfd):
    root = build("1.0.0", 0.98)
    assert publish(root, local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    before = len(local_gitlab.requests)
    code, out, _ = publish(root, local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 0 and "| release v1.0.0" in out and "| published" not in out
    writes = [r for r in local_gitlab.requests[before:] if r["method"] in ("POST", "PUT", "DELETE")]
    assert writes == []
    # Someone deletes a link and a person rewrites the notes: the rerun puts the link back and keeps their notes.
    release = api.releases.get("v1.0.0")
    link = next(l for l in release.links.list(get_all=True) if l.name == "weights.bin")
    release.links.delete(link.id)
    api.releases.update("v1.0.0", {"description": "Hand-written notes."})
    code, out, err = publish(root, local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 0, out + err
    release = api.releases.get("v1.0.0")
    assert "weights.bin" in {l.name for l in release.links.list(get_all=True)}
    assert release.description == "Hand-written notes."


def test_notes_a_person_edited_and_links_a_person_renamed_are_theirs(build, local_gitlab, api, capfd):
    root = build("1.0.0", 0.98)
    assert publish(root, local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    release = api.releases.get("v1.0.0")
    edited = release.description + "\n## Known issues\n\nSevens with a bar.\n"
    api.releases.update("v1.0.0", {"description": edited})
    link = next(l for l in release.links.list(get_all=True) if l.name == "weights.bin")
    release.links.update(link.id, {"name": "Weights (binary)", "link_type": "package"})
    before = len(local_gitlab.requests)
    code, out, err = publish(root, local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 0, out + err
    assert [r for r in local_gitlab.requests[before:] if r["method"] != "GET"] == []  # left alone: both are theirs
    release = api.releases.get("v1.0.0")
    assert release.description == edited
    assert sorted(l.name for l in release.links.list(get_all=True)).count("weights.bin") == 0


def test_a_branch_pipeline_leaves_a_release_version_to_its_tag_pipeline(build, local_gitlab, capfd):
    """main's commit carries the tag v1.0.0, so main builds 1.0.0: the tag's pipeline gates and releases it."""
    code, out, err = publish(build("1.0.0", 0.5), local_gitlab, capfd, CI_COMMIT_BRANCH="main")
    assert (code, err) == (0, "")
    assert out.strip() == ("tiny-model 1.0.0 is a release: the pipeline of its tag v1.0.0 publishes it, with the "
                           "regression gate and the GitLab Release; nothing to publish from branch main")
    assert local_gitlab.requests == []


def test_a_dev_version_tag_and_an_unknown_commit_are_refused_before_anything_is_sent(build, local_gitlab, capfd):
    code, _, err = publish(build("1.1.1.dev3", 0.98), local_gitlab, capfd, "--tag", "v1.1.1.dev3")
    assert code == 2 and "tag v1.1.1.dev3 names a dev version; release tags look like v1.2.0" in err
    code, _, err = publish(build("1.0.0", 0.98, git_commit=None), local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 2 and err.strip() == (
        "mlbundle-publish: error: release v1.0.0: the commit it was built from is unknown (the wheel's card has no "
        "git_commit: built from an sdist outside CI); set CI_COMMIT_SHA to that commit")
    assert [r for r in local_gitlab.requests if r["method"] != "GET"] == []


def test_a_release_created_meanwhile_is_completed_not_an_error(build, local_gitlab, api, capfd):
    """GET says no release, then the POST meets 409 (another pipeline was first): the run completes that one."""
    root = build("1.0.0", 0.98)
    local_gitlab.add_tag(PROJECT, "v1.0.0")
    api.releases.create({"tag_name": "v1.0.0", "description": ""})
    local_gitlab.inject(Fault(method="GET", path=r"/releases/v1\.0\.0$", kind="status", status=404, times=2))
    before = len(local_gitlab.requests)
    code, out, err = publish(root, local_gitlab, capfd, "--tag", "v1.0.0")
    assert code == 0, out + err
    posts = [r["status"] for r in local_gitlab.requests[before:] if r["method"] == "POST" and r["path"].endswith("/releases")]
    assert posts == [409]
    release = api.releases.get("v1.0.0")
    assert "First release" in release.description and len(release.links.list(get_all=True)) == 7


def test_a_tag_that_names_another_version_is_refused_before_anything_is_sent(build, local_gitlab, capfd):
    root = build("1.0.0", 0.98)
    code, out, err = publish(root, local_gitlab, capfd, "--tag", "v1.0.1")
    assert code == 1
    assert err.strip().splitlines() == [
        "mlbundle-publish: error: tag v1.0.1 names version 1.0.1 but tiny-model was built as 1.0.0; nothing was sent: "
        "build from the tagged commit with its tags fetched (GIT_DEPTH: 0), or fix the tag"]
    assert [r for r in local_gitlab.requests if r["method"] != "GET"] == []
    assert local_gitlab.releases(PROJECT) == []


def test_a_regression_is_refused_in_one_line_unless_allowed_and_then_the_notes_say_so(build, local_gitlab, api, capfd):
    assert publish(build("1.0.0", 0.99, latency=0.2), local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    worse = build("1.1.0", 0.98, latency=0.35)
    sent_before = len([r for r in local_gitlab.requests if r["method"] != "GET"])
    code, out, err = publish(worse, local_gitlab, capfd, "--tag", "v1.1.0")
    assert code == 1
    assert err.strip().splitlines() == [
        "mlbundle-publish: error: accuracy fell from 99.00% in 1.0.0 to 98.00% in 1.1.0 (-1.00 points; "
        "max-accuracy-drop is 0.5); latency grew from 0.2 ms in 1.0.0 to 0.35 ms in 1.1.0 (+75%; "
        "max-latency-increase is 50%); nothing was sent: fix the model, or publish with --allow-regression"]
    assert len([r for r in local_gitlab.requests if r["method"] != "GET"]) == sent_before
    assert local_gitlab.package_files(PROJECT, "pypi", "tiny-model", "1.1.0") == []

    assert publish(worse, local_gitlab, capfd, "--tag", "v1.1.0", "--max-accuracy-drop", "2",
                   "--max-latency-increase", "100")[0] == 0  # within looser limits: no regression to mention
    assert "allow-regression" not in api.releases.get("v1.1.0").description


@pytest.mark.parametrize("accuracy, problem", [
    (float("nan"), "accuracy of 1.1.0 is not a valid number in its model_card.json: cannot compare"),
    (98.5, "accuracy of 1.1.0 is not a valid number in its model_card.json: cannot compare"),  # a percentage
    (None, "accuracy of 1.1.0 is not a valid number in its model_card.json: cannot compare"),
])
def test_a_card_the_gate_cannot_read_is_refused_not_passed(build, local_gitlab, capfd, accuracy, problem):
    assert publish(build("1.0.0", 0.99), local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    code, _, err = publish(build("1.1.0", accuracy), local_gitlab, capfd, "--tag", "v1.1.0")
    assert code == 1 and err.strip() == (f"mlbundle-publish: error: {problem}; nothing was sent: fix the model, or "
                                         "publish with --allow-regression")
    assert local_gitlab.package_files(PROJECT, "pypi", "tiny-model", "1.1.0") == []


def test_a_previous_release_without_its_card_is_refused_unless_allowed(build, local_gitlab, api, capfd):
    local_gitlab.add_tag(PROJECT, "v1.0.0")
    api.releases.create({"tag_name": "v1.0.0", "description": "published by hand, no model card"})
    root = build("1.1.0", 0.98)
    code, _, err = publish(root, local_gitlab, capfd, "--tag", "v1.1.0")
    assert code == 1 and ("release 1.0.0 has no readable model_card.json in the generic registry: cannot compare; "
                          "nothing was sent") in err
    assert publish(root, local_gitlab, capfd, "--tag", "v1.1.0", "--allow-regression")[0] == 0


def test_allow_regression_publishes_and_the_release_notes_say_so(build, local_gitlab, api, capfd):
    assert publish(build("1.0.0", 0.99), local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    code, out, err = publish(build("1.1.0", 0.98), local_gitlab, capfd, "--tag", "v1.1.0", "--allow-regression")
    assert code == 0, out + err
    assert "allowed regression (--allow-regression): accuracy fell from 99.00% in 1.0.0 to 98.00% in 1.1.0" in err
    assert ("**Published with --allow-regression:** accuracy fell from 99.00% in 1.0.0 to 98.00% in 1.1.0"
            in api.releases.get("v1.1.0").description)


def test_a_dev_version_gets_no_release_and_no_notification_by_default(build, local_gitlab, receiver, capfd):
    port, received = receiver
    root = build("1.1.1.dev3", 0.98)
    code, out, err = publish(root, local_gitlab, capfd, notify=f"json://127.0.0.1:{port}/hook")
    assert code == 0, out + err
    assert "release" not in out and local_gitlab.releases(PROJECT) == [] and received == []
    code, out, err = publish(build("1.1.1.dev4", 0.98), local_gitlab, capfd, "--notify-dev",
                             notify=f"json://127.0.0.1:{port}/hook")
    assert code == 0 and len(received) == 1 and "tiny-model 1.1.1.dev4 published (dev build)" in received[0][2]["title"]


def test_a_release_notifies_once_naming_the_version_and_its_metrics(build, local_gitlab, receiver, capfd):
    port, received = receiver
    assert publish(build("1.0.0", 0.98), local_gitlab, capfd, "--tag", "v1.0.0")[0] == 0
    url = f"json://127.0.0.1:{port}/hook/{CANARY}"
    code, out, err = publish(build("1.1.0", 0.985), local_gitlab, capfd, "--tag", "v1.1.0", notify=url)
    assert code == 0, out + err
    assert len(received) == 1
    message = received[0][2]
    assert message["title"] == "tiny-model 1.1.0 released"
    assert "accuracy: 98.50% (+0.50 points against 1.0.0: 98.00%)" in message["message"]
    assert "/-/releases/v1.1.0" in message["message"] and "/packages/pypi/simple/tiny-model" in message["message"]
    # a rerun publishes nothing new and tells nobody again
    assert publish(build("1.1.0", 0.985), local_gitlab, capfd, "--tag", "v1.1.0", notify=url)[0] == 0
    assert len(received) == 1


def test_a_notification_endpoint_that_is_down_is_one_warning_and_secrets_appear_nowhere(build, local_gitlab, capfd):
    url = f"json://127.0.0.1:{closed_port()}/hook/{CANARY}"
    code, out, err = publish(build("1.0.0", 0.98), local_gitlab, capfd, "--tag", "v1.0.0", notify=url)
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if "notification" in line]
    assert len(warnings) == 1 and "failed" in warnings[0] and "the publish itself is done" in warnings[0]
    assert local_gitlab.releases(PROJECT)[0]["tag_name"] == "v1.0.0"
    for secret in (CANARY, local_gitlab.job_token):
        assert secret not in out + err
