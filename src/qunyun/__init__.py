"""Qunyun 群运: run a brand's sales channel as communities."""

__version__ = "0.1.0"
