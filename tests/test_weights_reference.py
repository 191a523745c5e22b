"""Weights by reference: the fetcher against the local registry with faults (cut body, wrong bytes, 404, slow),
the cache (a warm one needs no network), and the `weights push` command (the size limit, the lock's reference).

The real build with the weights out of git is in test_weights_build.py.
"""
import hashlib
import json
import os
import stat
import urllib.request

import pytest

from hatch_mlbundle import fetch
from hatch_mlbundle.fetch_auth import headers_for
from hatch_mlbundle.publish import weights as weights_cli
from localgitlab import Fault

SIZE = 3 * (1 << 20) + 12345  # a few chunks, not a whole number of them


@pytest.fixture
def blob(local_gitlab):
    """A random blob in the private project's generic registry: (url, sha256, bytes)."""
    data = os.urandom(SIZE)
    url = f"{local_gitlab.generic_url}/model-weights/1.0/model.pth"
    request = urllib.request.Request(url, data=data, method="PUT",
                                     headers={"PRIVATE-TOKEN": local_gitlab.private_token})
    assert urllib.request.urlopen(request).status == 201
    return url, hashlib.sha256(data).hexdigest(), data


@pytest.fixture
def auth(local_gitlab, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", local_gitlab.private_token)
    for name in ("CI_JOB_TOKEN", "GITLAB_DEPLOY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return headers_for


def gets(local_gitlab, url):
    path = url.split("://", 1)[1].split("/", 1)[1]
    return [r for r in local_gitlab.requests if r["method"] == "GET" and r["path"] == "/" + path]


def test_a_cold_cache_fetches_once_and_a_warm_one_needs_no_network(local_gitlab, blob, auth, tmp_path):
    url, sha, data = blob
    path = fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path)
    assert path == tmp_path / "blobs" / "sha256" / sha and path.read_bytes() == data
    assert not stat.S_IMODE(path.stat().st_mode) & 0o222  # read-only: a hard link to it cannot edit it
    local_gitlab.gl.stop()  # nothing to answer now
    assert fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path) == path
    assert [r["status"] for r in gets(local_gitlab, url)] == [200]


def test_a_body_cut_mid_way_is_resumed_with_a_range_request(local_gitlab, blob, auth, tmp_path):
    url, sha, data = blob
    cut = 1_500_000
    # the real first bytes, then the connection ends: what a reset mid-body leaves the client with
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="body", status=200, body=data[:cut], size=cut))
    lines = []
    path = fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path, say=lines.append)
    assert path.read_bytes() == data
    assert [r["status"] for r in gets(local_gitlab, url)] == [200, 206]  # the second asked for the rest only
    assert len(lines) == 1 and f"after {cut} of {SIZE} bytes; retrying" in lines[0]


def test_wrong_bytes_are_never_kept(local_gitlab, blob, auth, tmp_path):
    url, sha, _ = blob
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="body", status=200, body=b"\0x", size=SIZE,
                              times=2))
    with pytest.raises(fetch.FetchError) as error:
        fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path, attempts=2)
    message = str(error.value)
    assert "\n" not in message and f"not the pinned {sha[:12]}" in message and "nothing was kept" in message
    assert [p.name for p in (tmp_path / "blobs" / "sha256").iterdir() if not p.name.endswith(".lock")] == []


def test_wrong_bytes_once_are_fetched_again(local_gitlab, blob, auth, tmp_path):
    url, sha, data = blob
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="body", status=200, body=b"\0x", size=SIZE))
    assert fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path).read_bytes() == data


def test_a_missing_file_is_one_line_at_once(local_gitlab, blob, auth, tmp_path):
    url, sha, _ = blob
    missing = url.replace("/1.0/", "/2.0/")
    with pytest.raises(fetch.FetchError) as error:
        fetch.fetch(missing, sha, SIZE, headers=auth(missing), root=tmp_path)
    assert str(error.value) == f"cannot fetch {missing}: HTTP 404; it is not there: check the URL, or publish the weights"
    assert len(gets(local_gitlab, missing)) == 1  # a 404 is not retried


def test_a_slow_server_is_timed_out_and_retried(local_gitlab, blob, auth, tmp_path):
    url, sha, data = blob
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="slow", delay=2.0))
    lines = []
    path = fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path, timeout=0.5, say=lines.append)
    assert path.read_bytes() == data and "timed out" in lines[0]


def test_server_errors_are_retried_then_refused_in_one_line(local_gitlab, blob, auth, tmp_path):
    url, sha, _ = blob
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="status", status=503, times=3))
    with pytest.raises(fetch.FetchError) as error:
        fetch.fetch(url, sha, SIZE, headers=auth(url), root=tmp_path, attempts=3)
    assert str(error.value).startswith(f"cannot fetch {url}: HTTP 503;")


def test_credentials_resolve_like_the_publishers_and_never_show(local_gitlab, blob, tmp_path, monkeypatch):
    url, sha, data = blob
    for name in ("GITLAB_TOKEN", "GITLAB_DEPLOY_TOKEN", "CI_JOB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(fetch.FetchError) as error:  # a private project, no token: what to set, in one line
        fetch.fetch(url, sha, SIZE, headers=headers_for(url), root=tmp_path)
    assert str(error.value).endswith("HTTP 401; set GITLAB_TOKEN, GITLAB_DEPLOY_TOKEN (+GITLAB_DEPLOY_USER) or CI_JOB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", local_gitlab.job_token)
    assert headers_for(url) == {"JOB-TOKEN": local_gitlab.job_token}
    assert headers_for("https://example.com/weights/model.pth") == {}  # other hosts get no token
    monkeypatch.setenv("GITLAB_DEPLOY_USER", local_gitlab.deploy_user)
    monkeypatch.setenv("GITLAB_DEPLOY_TOKEN", local_gitlab.deploy_token)
    assert fetch.fetch(url, sha, SIZE, headers=headers_for(url), root=tmp_path).read_bytes() == data
    assert gets(local_gitlab, url)[-1]["auth"] != "anonymous"


def test_plain_http_is_refused_off_loopback(tmp_path):
    with pytest.raises(fetch.FetchError, match="must be https://"):
        fetch.fetch("http://example.com/model.pth", "0" * 64, 1, root=tmp_path)


@pytest.fixture
def lock(tmp_path):
    weights = tmp_path / "w" / "model.pth"
    weights.parent.mkdir()
    weights.write_bytes(os.urandom(100_000))
    path = tmp_path / "w" / "mlbundle.lock"
    path.write_text(json.dumps({"version": 2, "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}))
    return weights, path


def test_push_uploads_reads_back_and_writes_the_reference(local_gitlab, lock, tmp_path, capsys):
    weights, lock_path = lock
    env = {"GITLAB_TOKEN": local_gitlab.private_token}
    argv = ["push", str(weights), "--lock", str(lock_path), "--root", str(tmp_path),
            "--url", local_gitlab.api_url, "--project", str(local_gitlab.project_id)]
    assert weights_cli.main(argv, env=env) == 0
    recorded = json.loads(lock_path.read_text())
    sha = recorded["weights_sha256"]
    reference = recorded["references"]["w/model.pth"]
    assert reference == {"url": f"{local_gitlab.generic_url}/model-weights/sha256-{sha[:16]}/model.pth",
                         "sha256": sha, "size": 100_000}
    out = capsys.readouterr()
    assert "git rm --cached w/model.pth" in out.out and local_gitlab.private_token not in out.out + out.err
    fetched = fetch.fetch(reference["url"], sha, 100_000, headers={"PRIVATE-TOKEN": local_gitlab.private_token},
                          root=tmp_path / "cache")
    assert fetched.read_bytes() == weights.read_bytes()
    assert weights_cli.main(argv, env=env) == 0  # again: already there, nothing sent twice
    assert len([r for r in local_gitlab.requests if r["method"] == "PUT"]) == 1


def test_push_refuses_a_file_above_the_limit_before_sending(local_gitlab, lock, tmp_path, capsys):
    _, lock_path = lock
    huge = tmp_path / "w" / "big.pth"
    with open(huge, "wb") as handle:  # sparse: costs no disk
        handle.truncate((5 << 30) + 1)
    argv = ["push", str(huge), "--lock", str(lock_path), "--url", local_gitlab.api_url, "--project", "1217"]
    assert weights_cli.main(argv, env={"GITLAB_TOKEN": local_gitlab.private_token}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "above the generic registry's limit of 5 GiB per file" in err
    assert local_gitlab.requests == []
    assert "references" not in json.loads(lock_path.read_text())


def test_push_refuses_weights_the_lock_does_not_record(local_gitlab, lock, tmp_path, capsys):
    weights, lock_path = lock
    weights.write_bytes(b"retrained but not built")
    argv = ["push", str(weights), "--lock", str(lock_path), "--url", local_gitlab.api_url, "--project", "1217"]
    assert weights_cli.main(argv, env={"GITLAB_TOKEN": local_gitlab.private_token}) == 2
    assert "is not the file" in capsys.readouterr().err and local_gitlab.requests == []


@pytest.mark.parametrize("extra, message", [
    ({"bundle": "lfs"}, "Option `bundle` for build hook `custom` must be one of 'embed', 'reference', not 'lfs'"),
    ({"bundle": "reference"}, "Option `bundle` for build hook `custom` is \"reference\", which needs `fetcher`"),
    ({"fetcher": "model_src/mnist_model/_fetch.py"}, "Option `fetcher` for build hook `custom` is only used with bundle"),
    ({"bundle": "reference", "fetcher": "x.txt"}, "Option `fetcher` for build hook `custom` must name a .py file"),
])
def test_the_bundle_options_are_checked_in_one_line(extra, message):
    import tomllib

    from hatch_mlbundle.bundle.config import load_config
    from hatch_mlbundle.bundle.errors import BundleError
    from helpers import ROOT

    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    with pytest.raises(BundleError) as error:
        load_config(ROOT, {**table["hooks"]["custom"], **extra}, "custom", environ={})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_connection_reset_mid_body_is_resumed(tmp_path, monkeypatch):
    """A TCP reset after part of a body with a Content-Length (the registry's faults reset requests, not
    answers): the fetcher keeps what it got and asks for the rest with Range."""
    import socket
    import struct
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    data = os.urandom(SIZE)
    ranges = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0])
            ranges.append(start)
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{SIZE - 1}/{SIZE}")
            self.send_header("Content-Length", str(SIZE - start))
            self.end_headers()
            if len(ranges) == 1:
                self.wfile.write(data[:1_000_000])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # RST
                return
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/model.pth"
        path = fetch.fetch(url, hashlib.sha256(data).hexdigest(), SIZE, root=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert path.read_bytes() == data and ranges[0] == 0 and ranges[1] >= 65536
