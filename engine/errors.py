"""Errors the user sees. Their str() is one clear line; the CLI and GUI print it, never a traceback."""


class HarmonizerError(Exception):
    """Any failure that should reach the user as one line of text."""


class ImageReadError(HarmonizerError):
    """A file could not be read as an image (missing, truncated, not an image, too large)."""


class ImageWriteError(HarmonizerError):
    """An output could not be written (no permission, full disk, unknown format)."""


class MaskError(HarmonizerError):
    """A mask is empty, full, or otherwise unusable for the request."""


class ModelNotFoundError(HarmonizerError):
    """No model file for the requested name or path."""


class CancelledError(HarmonizerError):
    """The user cancelled a running operation."""
