"""Alerting on KPI thresholds and drift (filled by the alerting issue)."""
