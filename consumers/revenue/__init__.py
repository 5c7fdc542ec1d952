"""Revenue metrics from the subscriptions topic: MRR, movements, churn, NRR, LTV.

One hop each: formulas ``definitions`` (with ``normalize``, ``timeline``, ``buckets``), reducer
``ledger`` and ``processor``, deployment-wide ``view``, gauges ``collector``, HTTP ``routes``,
``pulse report`` in ``reports``, settings ``settings``, plug-in ``family``.
"""
