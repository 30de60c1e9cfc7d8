"""steerlab: steer language models along a concept with a signed coefficient, and measure what it does."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("steerlab")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+source"
