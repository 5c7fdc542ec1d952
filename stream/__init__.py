"""Pulse engine core: settings, event contracts, decoding, the Faust app, exporter, web and CLI."""

__version__ = "0.1.0"
