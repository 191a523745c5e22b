"""Weights by reference: a wheel built with `bundle = "reference"` carries weights/references.json (url, sha256,
size per file) instead of model.onnx and model.pth, and the fetcher the build hook generated (_fetch.py).

The file a run needs is fetched on first use into the cache the build uses (~/.cache/hatch-mlbundle, or
MLBUNDLE_CACHE), streamed, resumed, checked against its sha256 and moved in whole, like huggingface_hub does;
after that, runs need no network. A wheel that embeds its weights has no references.json: nothing happens.
"""
import importlib
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .backends import available
from .checksums import WeightsError

POINTERS = "references.json"
TOKENS = "GITLAB_TOKEN, GITLAB_DEPLOY_TOKEN + GITLAB_DEPLOY_USER, or CI_JOB_TOKEN"


def bundled(defaults, backend=None):
    """`defaults` ({backend: path}, preferred first), with the file that will run fetched when it is a pointer."""
    pointers_path = Path(next(iter(defaults.values()))).with_name(POINTERS)
    if not pointers_path.is_file():
        return defaults
    try:
        pointers = json.loads(pointers_path.read_text(encoding="utf-8"))
    except ValueError:
        raise WeightsError(f"{pointers_path}: damaged; reinstall the package") from None
    referenced = [name for name, path in defaults.items() if Path(path).is_file() or Path(path).name in pointers]
    if backend:
        chosen = backend
    else:  # as backends.choose does: the first there whose libraries are installed, else the first there
        chosen = next((name for name in referenced if available(name)), referenced[0] if referenced else None)
    path = Path(defaults.get(chosen, ""))
    if chosen is None or path.is_file() or path.name not in pointers:
        return defaults
    return dict(defaults, **{chosen: fetched(path.name, pointers[path.name])})


def fetched(name, pointer):
    """The file in the cache, fetched first when it is not there; one line saying what is needed when it cannot."""
    _fetch = importlib.import_module(f"{__package__}._fetch")  # generated into reference wheels by the hook

    def say(line):
        print(line, file=sys.stderr)

    try:
        blob = _fetch.fetch(pointer["url"], pointer["sha256"], pointer["size"],
                            headers=_fetch.headers_for(pointer["url"], os.environ), say=say)
    except (_fetch.FetchError, ValueError) as exc:
        host = urlsplit(pointer["url"]).netloc
        raise WeightsError(f"{name} is not in the cache ({_fetch.cache_root()}) and could not be fetched ({exc}); "
                           f"run once with access to {host} (a private project needs {TOKENS}), or set "
                           f"{_fetch.CACHE_ENV} to a cache that has it") from None
    return _fetch.named(blob, name)
