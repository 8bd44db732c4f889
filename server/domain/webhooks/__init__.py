"""Webhooks: a durable outbox of integration events, delivered signed by the scheduler's leader."""
