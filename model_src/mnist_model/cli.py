"""Entry point of `run-mnist`: the runner with the model bundled in this package."""
from .api import BUNDLED


def main(argv=None):
    from .runner import exit_now, main as run

    exit_now(run(argv, default_weights=BUNDLED))


if __name__ == "__main__":
    main()
