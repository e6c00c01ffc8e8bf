"""Forewarn: spot failure early in public services and learn the way out of it."""

__version__ = "0.1.0"
