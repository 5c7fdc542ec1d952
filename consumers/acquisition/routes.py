"""HTTP API of the acquisition family: a calendar month's figures by channel."""

from __future__ import annotations

from datetime import timedelta

from consumers.acquisition.view import AcquisitionView
from stream.family import Reply, Request, Route
from stream.params import parse_month

__all__ = ["acquisition_routes"]

#: the daily points a history request may ask for (workers keep 400 days of spend)
MAX_HISTORY_DAYS = 365

#: why a figure of a row is null
WHY = {
    "cac": "no new customers in the month",
    "ltv_to_cac": "LTV or CAC undefined, or CAC is 0 (new customers without spend)",
    "payback_months": "CAC undefined, or the new customers pay nothing",
}


def acquisition_routes(view: AcquisitionView) -> list[Route]:
    async def acquisition(request: Request) -> Reply:
        month = parse_month(request.query.get("month"))
        if month is None:
            return Reply({"error": "month: expected YYYY-MM"}, 400)
        rows = view.joined.month_rows(month)
        for row in rows:
            row["null_because"] = {k: why for k, why in WHY.items() if row[k] is None}
        from consumers.acquisition.definitions import days_of_month

        return Reply({"month": month, "channels": rows, "funnel": view.joined.funnel(days_of_month(month), month)})

    async def history(request: Request) -> Reply:
        text = request.query.get("days", "30")
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY_DAYS:
            return Reply({"error": f"days: expected 1 to {MAX_HISTORY_DAYS}"}, 400)
        end = view.watermark_day()
        if end is None:
            return Reply({"days": []})
        return Reply({"days": view.joined.daily_points(end - timedelta(days=int(text) - 1), end)})

    return [Route("/api/v1/acquisition", acquisition), Route("/api/v1/acquisition/history", history)]
