"""Entry point of `run-mnist`: the runner with the weights bundled in this package."""
from .api import DEFAULT_WEIGHTS


def main(argv=None):
    from .runner import main as run

    return run(argv, default_weights=DEFAULT_WEIGHTS)


if __name__ == "__main__":
    import sys

    sys.exit(main())
