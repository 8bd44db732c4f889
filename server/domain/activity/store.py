"""SQL of the activity fingerprint: one row of counters and high-water marks over the tables the back office watches."""

from __future__ import annotations

from sync.storage import Row, Tx


def marks(tx: Tx) -> Row | None:
    return tx.one(
        "SELECT (SELECT MAX(seq) FROM changes) AS c, (SELECT COUNT(*) FROM ticket_events) AS e, "
        "(SELECT MAX(updated_at) FROM tickets) AS t, (SELECT MAX(updated_at) FROM jobs) AS j, "
        "(SELECT COUNT(*) FROM conflicts WHERE status = 'open') AS k, "
        "(SELECT MAX(last_sync_at) FROM devices) AS s, (SELECT COUNT(*) FROM devices) AS d, "
        "(SELECT COUNT(*) FROM devices WHERE revoked_at IS NOT NULL) AS r, "
        "(SELECT COUNT(*) FROM recon_items WHERE status = 'open') AS o, "
        "(SELECT COUNT(*) FROM blobs WHERE complete = 1) AS b")
