"""The publish step: a built wheel and sdist to a GitLab project's PyPI and generic package registries."""
