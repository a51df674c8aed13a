"""Mamori: security response and update delivery."""

__version__ = "0.1.0"
