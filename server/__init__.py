"""Litestar server: sync endpoints, back-office API, web console, SLA engine, CLI."""
