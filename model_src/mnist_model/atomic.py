"""Files replaced in one rename: written to a temp file beside them and fsynced first, so a run that is
interrupted (kill, full disk) never leaves half a file where weights, a manifest or the dataset belong.

The model's own few lines, apart from hatch_mlbundle/files.py on purpose (`duplicates` pairs them): the
model imports nothing of the build hook, and the hook nothing of the model.
"""
import json
import os
from pathlib import Path


def replace_atomically(path, write):
    """`write(handle)` into a temp file beside `path`, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path, data):
    replace_atomically(path, lambda handle: handle.write(data))


def write_json_atomic(data, path):
    write_bytes_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
