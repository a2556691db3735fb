"""The package version: a leaf module, so nothing imports the package to learn it."""

__version__ = "0.3.0"
