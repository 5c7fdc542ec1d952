"""A deterministic synthetic history of a small SaaS company, for all six source topics.

Pure: no Kafka, no I/O, no wall clock, no global random state. Every domain of every customer
draws from its own ``random.Random`` seeded with a string (seeded through SHA-512, so the
result never depends on ``PYTHONHASHSEED``), and nothing iterates a set. The same arguments
therefore give the same events, byte for byte, in any process; adding customers leaves the
behaviour of the first ones unchanged.

Time is handled as integer UTC epoch seconds and formatted once at the end as RFC 3339 with
``Z``. Every domain appends raw events to one sink, which keeps only those inside the window;
the sink is then sorted by ``(occurred_at, generation sequence)``, event ids are numbered per
topic in that order, and message keys come from the topics' own rules (``stream.topics``).

One module per domain: ``accounts``, ``subscriptions``, ``product``, ``support``, ``surveys``,
``marketing`` and ``leads``; ``history`` runs them in order, ``sink`` orders their output, and
``clock`` and ``common`` hold the time and random helpers they share.
"""

from __future__ import annotations

from stream.simulate.history import generate_history
from stream.simulate.sink import SimEvent

__all__ = ["SimEvent", "generate_history"]
