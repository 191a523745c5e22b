"""The one exception the build hook turns into a one-line, traceback-free failure."""


class BundleError(Exception):
    """A problem the user can act on; the message names the thing and says what to do."""
