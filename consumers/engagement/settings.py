"""The engagement family's settings section (``PULSE_<FIELD>`` variables)."""

from __future__ import annotations

from pydantic import Field

from consumers.engagement.definitions import DEFAULT_WEIGHTS
from stream.settings import CommaList, FamilySettings

__all__ = ["EngagementSettings"]


class EngagementSettings(FamilySettings):
    inactive_event_names: CommaList = Field(("page_view",), description="Event names that do not make a user active")
    key_features: CommaList = Field(
        ("dashboards", "reports", "alerts", "integrations"),
        description="Features always tracked; feature_used of one of them activates a user",
    )
    activation_event_names: CommaList = Field(
        ("invite_sent",), description="Event names that activate a user who signed up"
    )
    activation_days: int = Field(7, ge=1, le=90, description="Days after signup to activate")
    session_gap_seconds: int = Field(1800, ge=60, le=86400, description="Inactivity that ends a session")
    feature_top_n: int = Field(10, ge=0, le=100, description="Features exported beyond the key ones")
    engagement_weights: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="Event name -> weight in the engagement score (JSON object)",
    )
    health_threshold: float = Field(40.0, ge=0, le=100, description="Health score below which an account is at risk")
    health_frt_target_seconds: float = Field(
        14400.0, gt=0, description="30-day mean first response time an account's health counts as fully good"
    )
    health_refresh_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="Seconds between a worker's passes scoring the accounts' health (pulse_accounts_at_risk)",
    )
