"""Strict parsing of the API's query parameters: ASCII digits only, the whole value, nothing
after it. Python's ``\\d`` and ``date.fromisoformat`` take more (full-width digits, a trailing
newline, ``2026-W35-1``), and a figure served for a month the user did not ask for is a wrong
number."""

from __future__ import annotations

import re
from datetime import date

__all__ = ["parse_day", "parse_month"]

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_month(text: str | None) -> str | None:
    """``YYYY-MM`` as given, or None."""
    return text if text is not None and _MONTH.fullmatch(text) else None


def parse_day(text: str | None) -> date | None:
    """A calendar day written ``YYYY-MM-DD``, or None (also for 2026-02-30)."""
    if text is None or not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
