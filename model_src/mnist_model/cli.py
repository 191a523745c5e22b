"""Entry point of `run-mnist`: the runner with the model bundled in this package."""
from .api import BUNDLED


def main(argv=None):
    import sys

    from .checksums import WeightsError
    from .remote import bundled
    from .runner import exit_now, main as run

    argv = sys.argv[1:] if argv is None else argv
    try:
        defaults = BUNDLED if "--weights" in " ".join(argv) else bundled(BUNDLED, _backend(argv))
    except WeightsError as exc:
        print(f"run-mnist: {exc}", file=sys.stderr)
        exit_now(1)
    exit_now(run(argv, default_weights=defaults))


def _backend(argv):
    """--backend's value, read before the runner parses (the one file to fetch depends on it)."""
    for index, arg in enumerate(argv):
        if arg.startswith("--backend="):
            return arg.partition("=")[2]
        if arg == "--backend" and index + 1 < len(argv):
            return argv[index + 1]
    return None


if __name__ == "__main__":
    main()
