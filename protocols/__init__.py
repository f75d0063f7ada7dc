"""AgeLab protocols: the study's config, the engine, run files, analysis, report and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agelab")  # written once, in pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
