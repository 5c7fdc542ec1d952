"""Engagement metrics from the product-events topic: DAU/WAU/MAU, sessions, activation.

One hop each: formulas ``definitions``, reducer ``ledger`` (with the compiled kernel
``_kernel``, native/) and ``processor``, deployment-wide ``view``, gauges ``collector``, HTTP
``routes``, ``pulse report`` in ``reports``, settings ``settings``, plug-in ``family``.
"""
