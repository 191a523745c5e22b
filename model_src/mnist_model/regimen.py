"""The training regimens: named sets of hyper-parameters, and how a build's overrides apply to them.

The default was chosen on two validation folds carved from the 4,000 training digits (bench/tune_regimen.py;
README.md, "The model"), never on the held-out 1,000: MNIST-style and realistic pictures of the folds' digits.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Regimen:
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "adamw"  # or "sgd"
    lr: float = 0.01
    momentum: float = 0.5  # sgd only
    weight_decay: float = 0.0
    schedule: str = "onecycle"  # or "constant"
    augment: bool = True  # random affine jitter
    # and which of augment.py's distortions, comma-separated ("" for the affine jitter alone); stroke
    # width, blur, low resolution and uneven ink each cost validation accuracy (preprocessing already
    # normalises what they imitate), the elastic wobble did not
    distortions: str = "elastic"
    # on conv2's channels and fc1's units: the tutorial's 0.5 left this small net under-fitted (98.75% on its own
    # training digits); 0.1 scored higher on both validation folds
    dropout: float = 0.1
    seed: int = 42


TRAIN_THREADS = 1

REGIMENS = {
    "default": Regimen(),
    # The tutorial's: SGD lr 0.01 momentum 0.5, batch 64, 3 epochs, seed 42, no augmentation.
    "tutorial": Regimen(epochs=3, batch_size=64, optimizer="sgd", lr=0.01, weight_decay=0.0, schedule="constant",
                        augment=False, dropout=0.5),
}


def regimen_from(name="default", **overrides):
    """A named regimen with some fields replaced (unknown fields are an error)."""
    if name not in REGIMENS:
        raise ValueError(f"unknown regimen {name!r}; choose one of {', '.join(REGIMENS)}")
    fields = {f.name for f in dataclasses.fields(Regimen)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(fields))}")
    return dataclasses.replace(REGIMENS[name], **overrides)
