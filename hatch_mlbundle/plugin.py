"""Registers the hook under hatch's entry-point group, as `mlbundle`.

hatchling imports this module during every build of every project that has
hatch-mlbundle installed, so it imports nothing heavy.
"""
from hatchling.plugin import hookimpl


@hookimpl
def hatch_register_build_hook():
    from .hook import MLBundleBuildHook

    return MLBundleBuildHook
