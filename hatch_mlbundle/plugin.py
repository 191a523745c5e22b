"""Registers the build and metadata hooks (`mlbundle`) and the publisher (`gitlab`) under hatch's entry-point group.

hatchling imports this module during every build of every project that has
hatch-mlbundle installed, where hatch itself is usually absent: import lazily.
"""
from hatchling.plugin import hookimpl


@hookimpl
def hatch_register_build_hook():
    from .bundle.hook import MLBundleBuildHook

    return MLBundleBuildHook


@hookimpl
def hatch_register_metadata_hook():
    from .bundle.metadata_hook import MLBundleMetadataHook

    return MLBundleMetadataHook


@hookimpl
def hatch_register_publisher():
    from .publish.hatch_plugin import GitLabPublisher

    return GitLabPublisher
