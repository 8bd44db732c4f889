"""Idempotency-Key: a retried back-office POST is answered as the first time, never done twice."""

from server.domain.idempotency.service import run

__all__ = ["run"]
