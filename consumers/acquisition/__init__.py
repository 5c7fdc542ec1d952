"""Acquisition: marketing spend joined with the revenue family's new customers (CAC and the rest)."""
