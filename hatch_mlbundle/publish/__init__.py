"""The publish step: a built wheel and sdist to a GitLab project's PyPI and generic package registries.

Or to any other target (``targets/``): the run plans, compares, uploads and verifies the same way for each.
"""
