"""Export trained weights to ONNX (model.onnx), the file the default runtime runs on onnxruntime.

The graph takes what preprocessing makes, uint8 pixels, and does the normalisation itself, so a consumer
in any language feeds 784 bytes per digit and needs no constants from here:

    input  `pixels`    uint8   [batch, 28, 28]  white digit on black, centred as MNIST (preprocess.py)
    output `log_probs` float32 [batch, 10]      log-softmax over the digits 0-9

The opset is pinned (OPSET) and the batch axis is dynamic. The same weights give the same bytes wherever
they are exported: the exporter is deterministic, and what it notes about the machine goes (each node's
stack trace, with absolute paths; torch's local build tag, +cpu or +cu130), so wheels stay reproducible. `export()` is what the build hook calls (`mnist_model.export:export`) right after
training, on the staged weights; it records the file's sha256 in the weights' manifest, which the runtime
checks before loading. Needs the `train` extra (torch, onnx, onnxscript).
"""
import io
import json
from pathlib import Path

import torch

from .checksums import sha256_file
from .inference import load_model
from .network import normalise
from .onnx_backend import INPUT_NAME, OUTPUT_NAME

OPSET = 18  # IR version 10 (onnx >= 1.16): onnxruntime >= 1.18 runs it; changing it changes the file, so it is retrained-for (sources)


INTERFACE = (f"Input {INPUT_NAME}: uint8 [batch, 28, 28], white digit on black, centred as MNIST. "
             f"Output {OUTPUT_NAME}: float32 [batch, 10], log-softmax over the digits 0-9.")


class Pixels(torch.nn.Module):
    """uint8 pixels -> the network's log-probabilities: the exported graph, normalisation included."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, pixels):
        return self.net(normalise(pixels))


def onnx_bytes(weights_path):
    """The ONNX file's bytes for these weights (checked against their manifest only by the runtime)."""
    import onnx

    model = Pixels(load_model(weights_path, check_sha256=False)).eval()
    example = torch.zeros(2, 28, 28, dtype=torch.uint8)
    program = torch.onnx.export(
        model, (example,), dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes={"pixels": {0: torch.export.Dim("batch")}}, optimize=True, verbose=False,
    )
    proto = program.model_proto
    proto.producer_version = proto.producer_version.split("+")[0]
    proto.doc_string = f"MNIST digits. {INTERFACE}"
    for node in proto.graph.node:  # the exporter notes each node's stack trace: absolute paths of this machine
        del node.metadata_props[:]
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info, *proto.graph.initializer]:
        del value.metadata_props[:]
    onnx.checker.check_model(proto, full_check=True)
    buffer = io.BytesIO()
    onnx.save_model(proto, buffer)
    return buffer.getvalue()


def export(weights_path, out_path=None):
    """Write `out_path` (default: the weights' path with .onnx) and record its sha256 in `<weights>.json`.

    Returns what the build hook records in its lock and the model card.
    """
    from .atomic import write_bytes_atomic, write_json_atomic

    weights_path = Path(weights_path)
    out_path = Path(out_path) if out_path else weights_path.with_suffix(".onnx")
    data = onnx_bytes(weights_path)
    write_bytes_atomic(out_path, data)
    manifest_path = weights_path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.update(onnx_file=out_path.name, onnx_sha256=sha256_file(out_path), onnx_opset=OPSET)
    write_json_atomic(manifest, manifest_path)
    return {"format": "onnx", "opset": OPSET, "interface": INTERFACE}
