"""Local entry of the mlbundle build hook for this repository.

hatchling loads this file by path; only hatch puts the project root on
sys.path, so do it here to import the hook under pip, build and uv as well.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hatch_mlbundle.bundle.hook import MLBundleBuildHook  # noqa: E402
from hatch_mlbundle.bundle.metadata_hook import MLBundleMetadataHook  # noqa: E402


def get_build_hook():
    return MLBundleBuildHook


def get_metadata_hook():
    return MLBundleMetadataHook
