"""Revenue metrics from the subscriptions topic: MRR, movements, churn, NRR, LTV."""
