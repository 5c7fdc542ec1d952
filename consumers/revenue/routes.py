"""HTTP API of the revenue family: a month's figures and one customer's history."""

from __future__ import annotations

from consumers.revenue.view import RevenueView
from stream.family import Reply, Request, Route
from stream.params import parse_month

__all__ = ["revenue_routes"]


def revenue_routes(view: RevenueView) -> list[Route]:
    async def revenue(request: Request) -> Reply:
        month = parse_month(request.query.get("month"))
        if month is None:
            return Reply({"error": "query parameter month=YYYY-MM (ASCII digits) is required"}, 400)
        figures = view.month(month)
        return Reply(
            {
                **figures["row"],
                "currency": view.currency,
                "ratios": figures["ratios"],
                "watermark": view.watermark,
                "partitions_checkpoint": {str(k): v for k, v in sorted(view.partitions.items())},
            }
        )

    async def customer(request: Request) -> Reply:
        customer_id = request.params["customer_id"]
        found = await view.snapshots.entity("customers", customer_id)
        if found is None:
            return Reply({"error": f"no customer {customer_id}"}, 404)
        return Reply({**found, "currency": view.currency})

    return [
        Route("/api/v1/revenue", revenue),
        Route("/api/v1/customers/{customer_id}", customer, fresh=False),
    ]
