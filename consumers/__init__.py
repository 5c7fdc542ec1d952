"""Pulse's metric families, one package each (``consumers/<family>/``).

A family is a :class:`stream.family.MetricFamily`; the runtime finds the installed ones through
the ``pulse.families`` entry points in pyproject.toml (one line per family) and knows nothing
else about them. How to add one: docs/architecture.md, "How to add a metric family".
"""
