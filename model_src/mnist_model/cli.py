"""Entry point of `run-mnist`: the runner with the weights bundled in this package."""
from .api import DEFAULT_WEIGHTS


def main(argv=None):
    from .runner import exit_now, main as run

    exit_now(run(argv, default_weights=DEFAULT_WEIGHTS))


if __name__ == "__main__":
    main()
