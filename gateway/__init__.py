"""TinBao: an offline-first SMS gateway for a commune police post."""

__version__ = "0.1.0"
