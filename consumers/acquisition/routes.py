"""HTTP API of the acquisition family: a calendar month's figures by channel."""

from __future__ import annotations

from consumers.acquisition.view import AcquisitionView
from stream.family import Reply, Request, Route
from stream.params import parse_month

__all__ = ["acquisition_routes"]

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

    return [Route("/api/v1/acquisition", acquisition)]
