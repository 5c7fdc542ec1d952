"""Engagement metrics from the product-events topic: DAU/WAU/MAU, sessions, activation."""
