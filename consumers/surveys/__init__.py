"""The surveys family: NPS, CSAT and CES from the `surveys` topic."""
