"""Versioned migrations, written once for both backends.

Each migration is DDL with a few type placeholders (``{serial}``, ``{blob}``,
``{big}``) filled in per dialect.  Applied versions are recorded in
``schema_migrations``; a migration runs in the same transaction as its record,
so a crash mid-migration leaves the previous version intact.  A migration that
needs more than DDL (re-tokenizing rows) has a step in ``STEPS``, run after
its SQL in that same transaction.  After them, the knowledge base is indexed
anew when the search tokens' fingerprint (:mod:`sync.core.search`) is not the
one it was indexed with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Final

from sync.core.search import customer_index_text, fingerprint, kb_index_text
from sync.storage.base import Dialect, StorageError, Tx

TYPES: Final[dict[Dialect, dict[str, str]]] = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB", "big": "INTEGER",
               # full-text search of the knowledge base: FTS5 here, a tsvector expression index on PostgreSQL
               "kb_search": "CREATE VIRTUAL TABLE kb_fts USING fts5(case_id UNINDEXED, body, "
                            "tokenize = 'porter unicode61')",
               # answers kept in their primary key's b-tree (one b-tree per row instead of a rowid table
               # and a key index): a push writes its answers in about half the time
               "answers_by_key": """
CREATE TABLE answers_by_key (job_id TEXT NOT NULL, item_key TEXT NOT NULL, value TEXT, note TEXT, na_reason TEXT,
  hlc INTEGER NOT NULL, device_id TEXT NOT NULL, at INTEGER NOT NULL, template_version INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, item_key)) WITHOUT ROWID;
INSERT INTO answers_by_key (job_id, item_key, value, note, na_reason, hlc, device_id, at, template_version, deleted)
  SELECT job_id, item_key, value, note, na_reason, hlc, device_id, at, template_version, deleted FROM answers;
DROP TABLE answers;
ALTER TABLE answers_by_key RENAME TO answers""",
               # the knowledge base's index over the tokens of sync/core/search.py, which the engine neither
               # stems nor folds again (the same verdict as PostgreSQL and the tablet)
               "kb_search_tokens": "DROP TABLE kb_fts; CREATE VIRTUAL TABLE kb_fts USING fts5(case_id UNINDEXED, "
                                   "body, tokenize = 'unicode61 remove_diacritics 0')"},
    "postgresql": {"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "blob": "BYTEA", "big": "BIGINT",
                   "kb_search": "CREATE INDEX kb_cases_fts ON kb_cases USING GIN "
                                "(to_tsvector('english', search_text))",
                   "answers_by_key": "",  # a PostgreSQL table is a heap either way
                   # 'simple': lower-case only, no stemming or stop words (the tokens come stemmed)
                   "kb_search_tokens": "DROP INDEX kb_cases_fts; CREATE INDEX kb_cases_fts ON kb_cases USING GIN "
                                       "(to_tsvector('simple', search_text))"},
}

MIGRATIONS: Final[list[tuple[int, str]]] = [
    (
        1,
        """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE server_keys (id TEXT PRIMARY KEY, private_key {blob} NOT NULL, public_key {blob} NOT NULL,
  created_at {big} NOT NULL);
CREATE TABLE staff_tokens (token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,
  created_at {big} NOT NULL, revoked_at {big});
CREATE TABLE engineers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '',
  skills TEXT NOT NULL DEFAULT '[]', van_location TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL DEFAULT '');
CREATE TABLE sites (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, name TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '', timezone TEXT NOT NULL DEFAULT 'UTC');
CREATE TABLE tickets (id TEXT PRIMARY KEY, customer TEXT NOT NULL, site TEXT NOT NULL, priority TEXT NOT NULL,
  category TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
  asset_serial TEXT, status TEXT NOT NULL DEFAULT 'open', opened_at {big} NOT NULL,
  created_by TEXT NOT NULL DEFAULT '', created_at {big} NOT NULL, updated_at {big} NOT NULL);
CREATE INDEX tickets_status ON tickets (status, priority);
CREATE TABLE ticket_events (id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, job_id TEXT, kind TEXT NOT NULL,
  at {big} NOT NULL, device_time {big}, corrected_time {big}, received_at {big} NOT NULL,
  source TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{{}}');
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);
CREATE TABLE jobs (id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, engineer_id TEXT NOT NULL,
  status TEXT NOT NULL, hold_reason TEXT, scheduled_start {big}, scheduled_end {big},
  remote INTEGER NOT NULL DEFAULT 0, notes TEXT NOT NULL DEFAULT '', diagnosis TEXT NOT NULL DEFAULT '',
  resolution TEXT NOT NULL DEFAULT '', template_id TEXT, template_version INTEGER,
  rating INTEGER, customer_comment TEXT NOT NULL DEFAULT '',
  field_meta TEXT NOT NULL DEFAULT '{{}}', signed_off INTEGER NOT NULL DEFAULT 0,
  created_at {big} NOT NULL, updated_at {big} NOT NULL);
CREATE INDEX jobs_ticket ON jobs (ticket_id);
CREATE INDEX jobs_engineer ON jobs (engineer_id, status);
CREATE TABLE job_assignments (job_id TEXT NOT NULL, engineer_id TEXT NOT NULL, assigned_at {big} NOT NULL,
  PRIMARY KEY (job_id, engineer_id));
CREATE TABLE templates (id TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, items TEXT NOT NULL,
  published_at {big} NOT NULL, PRIMARY KEY (id, version));
CREATE TABLE answers (job_id TEXT NOT NULL, item_key TEXT NOT NULL, value TEXT, note TEXT, na_reason TEXT,
  hlc {big} NOT NULL, device_id TEXT NOT NULL, at {big} NOT NULL, template_version INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, item_key));
CREATE TABLE parts (part_no TEXT PRIMARY KEY, name TEXT NOT NULL, serialized INTEGER NOT NULL DEFAULT 0,
  unit_price_cents INTEGER NOT NULL DEFAULT 0);
CREATE TABLE locations (id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, engineer_id TEXT);
CREATE TABLE movements (id TEXT PRIMARY KEY, kind TEXT NOT NULL, part_no TEXT NOT NULL, qty INTEGER NOT NULL,
  serial TEXT, returned_serial TEXT, from_location TEXT, to_location TEXT, job_id TEXT, device_id TEXT,
  at {big} NOT NULL, recorded_at {big} NOT NULL, billable INTEGER, source TEXT NOT NULL DEFAULT 'office');
CREATE INDEX movements_serial ON movements (serial);
CREATE INDEX movements_job ON movements (job_id);
CREATE TABLE signoffs (job_id TEXT PRIMARY KEY, signer_name TEXT NOT NULL, signer_role TEXT NOT NULL,
  signed_at {big} NOT NULL, report_digest TEXT NOT NULL, strokes TEXT NOT NULL, device_id TEXT NOT NULL,
  device_signature {blob} NOT NULL, content TEXT NOT NULL, received_at {big} NOT NULL,
  rating INTEGER, comment TEXT);
CREATE TABLE attachments (job_id TEXT NOT NULL, sha256 TEXT NOT NULL, kind TEXT NOT NULL, size {big} NOT NULL,
  content_type TEXT NOT NULL, device_id TEXT NOT NULL, at {big} NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, sha256));
CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size {big} NOT NULL, received {big} NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0, created_at {big} NOT NULL);
CREATE TABLE blob_chunks (sha256 TEXT NOT NULL, offset_ {big} NOT NULL, data {blob} NOT NULL,
  PRIMARY KEY (sha256, offset_));
CREATE TABLE devices (id TEXT PRIMARY KEY, engineer_id TEXT NOT NULL, name TEXT NOT NULL,
  public_key {blob} NOT NULL, enrolled_at {big} NOT NULL, revoked_at {big}, last_seq {big} NOT NULL DEFAULT 0,
  last_hash TEXT NOT NULL DEFAULT '', last_sync_at {big}, clock_offset_ms {big} NOT NULL DEFAULT 0);
CREATE TABLE enroll_tokens (token_hash TEXT PRIMARY KEY, engineer_id TEXT NOT NULL, created_at {big} NOT NULL,
  expires_at {big} NOT NULL, used_at {big}, device_id TEXT);
CREATE TABLE device_sessions (token_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL, expires_at {big} NOT NULL);
CREATE TABLE nonces (nonce TEXT PRIMARY KEY, device_id TEXT NOT NULL, expires_at {big} NOT NULL);
CREATE TABLE changesets (device_id TEXT NOT NULL, seq {big} NOT NULL, hash TEXT NOT NULL,
  received_at {big} NOT NULL, op_count INTEGER NOT NULL, receipt {blob} NOT NULL, PRIMARY KEY (device_id, seq));
CREATE TABLE conflicts (id TEXT PRIMARY KEY, kind TEXT NOT NULL, job_id TEXT NOT NULL, key TEXT NOT NULL,
  status TEXT NOT NULL, vals TEXT NOT NULL, applied INTEGER NOT NULL, created_at {big} NOT NULL,
  resolved_at {big}, resolution TEXT NOT NULL DEFAULT '{{}}', resolved_by TEXT);
CREATE INDEX conflicts_status ON conflicts (status, created_at);
CREATE TABLE changes (seq {serial}, xid {big} NOT NULL, scope TEXT NOT NULL, kind TEXT NOT NULL,
  entity_id TEXT NOT NULL, data {blob} NOT NULL);
CREATE INDEX changes_feed ON changes (xid, seq);
CREATE TABLE recon_items (id TEXT PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL,
  engineer_id TEXT, job_id TEXT, records TEXT NOT NULL, created_at {big} NOT NULL, history TEXT NOT NULL,
  UNIQUE (kind, key));
CREATE TABLE sla_marks (ticket_id TEXT NOT NULL, target TEXT NOT NULL, threshold INTEGER NOT NULL,
  crossed_at {big} NOT NULL, recorded_at {big} NOT NULL, PRIMARY KEY (ticket_id, target, threshold));
""",
    ),
    (
        2,
        """
CREATE TABLE assets (serial TEXT PRIMARY KEY, model TEXT NOT NULL DEFAULT '', equipment_type TEXT NOT NULL DEFAULT '',
  customer TEXT NOT NULL DEFAULT '', site TEXT NOT NULL DEFAULT '', installed_at {big}, warranty_until {big},
  contract_until {big}, created_at {big} NOT NULL);
CREATE INDEX assets_customer ON assets (customer, site);
CREATE TABLE warranty_claims (id TEXT PRIMARY KEY, movement_id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
  part_no TEXT NOT NULL, serial TEXT, returned_serial TEXT, status TEXT NOT NULL, created_at {big} NOT NULL,
  decided_at {big}, decided_by TEXT, comment TEXT);
CREATE INDEX warranty_claims_status ON warranty_claims (status, created_at);
CREATE INDEX movements_kind ON movements (kind, part_no);
""",
    ),
    (
        3,
        """
CREATE TABLE staff_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  created_at {big} NOT NULL, disabled_at {big});
CREATE TABLE console_sessions (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
  via TEXT NOT NULL, staff_token_hash TEXT, created_at {big} NOT NULL, expires_at {big} NOT NULL);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
""",
    ),
    (
        4,
        """
CREATE TABLE certifications (id TEXT PRIMARY KEY, engineer_id TEXT NOT NULL, equipment_type TEXT NOT NULL,
  name TEXT NOT NULL, issued_at {big}, expires_at {big}, created_at {big} NOT NULL, created_by TEXT NOT NULL);
CREATE INDEX certifications_engineer ON certifications (engineer_id, equipment_type);
CREATE TABLE plans (id TEXT PRIMARY KEY, name TEXT NOT NULL, asset_serial TEXT, customer TEXT NOT NULL,
  site TEXT NOT NULL, every_months INTEGER, dates TEXT NOT NULL DEFAULT '[]', start_at {big} NOT NULL,
  end_at {big}, template_id TEXT, engineer_id TEXT NOT NULL, lead_days INTEGER NOT NULL DEFAULT 14,
  priority TEXT NOT NULL DEFAULT 'P3', active INTEGER NOT NULL DEFAULT 1, created_at {big} NOT NULL,
  created_by TEXT NOT NULL DEFAULT '');
CREATE TABLE plan_visits (plan_id TEXT NOT NULL, period TEXT NOT NULL, due_at {big} NOT NULL,
  ticket_id TEXT NOT NULL, job_id TEXT NOT NULL, created_at {big} NOT NULL, PRIMARY KEY (plan_id, period));
CREATE INDEX plan_visits_ticket ON plan_visits (ticket_id);
CREATE TABLE followups (id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, reached INTEGER NOT NULL, rating INTEGER,
  comment TEXT NOT NULL DEFAULT '', recorded_by TEXT NOT NULL, at {big} NOT NULL);
CREATE INDEX followups_ticket ON followups (ticket_id, at);
CREATE TABLE complaint_links (complaint_id TEXT PRIMARY KEY, origin_ticket_id TEXT, origin_job_id TEXT,
  source TEXT NOT NULL, source_key TEXT NOT NULL UNIQUE, rating INTEGER, created_at {big} NOT NULL);
CREATE INDEX complaint_links_origin ON complaint_links (origin_ticket_id);
CREATE TABLE customer_confirmations (ticket_id TEXT PRIMARY KEY, confirmed_by TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '', recorded_by TEXT NOT NULL, at {big} NOT NULL);
CREATE TABLE kb_cases (id TEXT PRIMARY KEY, model TEXT NOT NULL DEFAULT '', equipment_type TEXT NOT NULL DEFAULT '',
  symptom TEXT NOT NULL, cause TEXT NOT NULL DEFAULT '', fix TEXT NOT NULL DEFAULT '', parts TEXT NOT NULL DEFAULT '[]',
  ticket_id TEXT, search_text TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '', created_at {big} NOT NULL);
CREATE INDEX kb_cases_model ON kb_cases (model, created_at);
{kb_search};
""",
    ),
    (
        5,
        # a pull reads its own scopes' rows from its cursor on: one range per scope, not a walk over
        # every device's rows after the cursor (which made a fleet's pulls quadratic)
        """
DROP INDEX changes_feed;
CREATE INDEX changes_scope ON changes (scope, xid, seq);
""",
    ),
    (
        6,
        # stock at a location is two index-only sums (in, out) over that location's movements of a part,
        # not a scan of every movement of the part (every push recounts its van's stock)
        """
CREATE INDEX movements_to ON movements (to_location, part_no, qty);
CREATE INDEX movements_from ON movements (from_location, part_no, qty);
""",
    ),
    (7, "{answers_by_key};"),
    (
        8,
        # a device whose session reported no usable clock has an unknown offset, not a zero one; an event
        # whose time could not be trusted says why (its ``at`` is then the receipt time); uploads in
        # progress belong to the device that started them, so another device's upload of the same hash
        # cannot block them (the partial uploads of before are dropped: tablets start those again)
        """
ALTER TABLE devices ADD COLUMN clock_known INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ticket_events ADD COLUMN time_flag TEXT;
CREATE TABLE blob_uploads (sha256 TEXT NOT NULL, device_id TEXT NOT NULL, size {big} NOT NULL,
  received {big} NOT NULL, created_at {big} NOT NULL, PRIMARY KEY (sha256, device_id));
CREATE TABLE blob_upload_chunks (sha256 TEXT NOT NULL, device_id TEXT NOT NULL, offset_ {big} NOT NULL,
  data {blob} NOT NULL, PRIMARY KEY (sha256, device_id, offset_));
DELETE FROM blob_chunks WHERE sha256 IN (SELECT sha256 FROM blobs WHERE complete = 0);
DELETE FROM blobs WHERE complete = 0;
""",
    ),
    # knowledge-base search that understands Chinese: ``search_text`` holds the tokens of sync/core/search.py
    # (CJK as characters and character pairs, other words stemmed), indexed as they are; the step below
    # re-tokenizes every existing case
    (
        9,
        # the console language a staff user chose (zh_CN, en); NULL: not chosen, the browser's is used
        "ALTER TABLE staff_users ADD COLUMN locale TEXT;",
    ),
    (
        10,
        # the locale a ticket's service report is written in, chosen by the dispatcher (NULL: the server's
        # FIELDSYNC_LOCALE)
        "ALTER TABLE tickets ADD COLUMN report_locale TEXT;",
    ),
    (11, "{kb_search_tokens};"),
    (
        12,
        # SLA marks can be withdrawn (a late sync shows the level was never reached); ``fired`` = 0 is a
        # lower level recorded silently because a higher one of the same clock was crossed at once;
        # ``event_id`` is the timeline event that announced the level (a level reached again gets a new one)
        """
ALTER TABLE sla_marks ADD COLUMN withdrawn_at {big};
ALTER TABLE sla_marks ADD COLUMN fired INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sla_marks ADD COLUMN event_id TEXT;
""",
    ),
    (
        13,
        # staff tokens expire (NULL: a token issued before expiry existed, listed as "never" for the operator)
        "ALTER TABLE staff_tokens ADD COLUMN expires_at {big};",
    ),
    (
        14,
        # the webhook outbox: one row per logical event (``id``, unique), written in the transaction of the
        # change it announces; the leader delivers it (``lease_until`` claims it for one attempt) and logs
        # every attempt in ``webhook_deliveries``
        """
CREATE TABLE webhook_outbox (seq {serial}, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, body TEXT NOT NULL,
  created_at {big} NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at {big} NOT NULL,
  lease_until {big}, delivered_at {big}, gave_up_at {big}, last_error TEXT);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, gave_up_at, next_attempt_at);
CREATE TABLE webhook_deliveries (seq {serial}, event_id TEXT NOT NULL, attempt INTEGER NOT NULL,
  status_code INTEGER, error TEXT, at {big} NOT NULL, duration_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
""",
    ),
    (
        15,
        # the answers to back-office POSTs sent with an Idempotency-Key: written in the transaction of the
        # write itself, so a retry finds either nothing done or the write and its answer (kept 24 hours);
        # a ticket's place in the order of changes (``GET /v1/tickets?cursor=``), set by a trigger on every
        # write of the row: see ``_ticket_change_positions``; the ERP's own reference of a ticket, unique
        """
CREATE TABLE idempotency_keys (principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL, body TEXT NOT NULL, created_at {big} NOT NULL, PRIMARY KEY (principal, key));
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
ALTER TABLE tickets ADD COLUMN change_pos {big} NOT NULL DEFAULT 0;
CREATE INDEX tickets_change_pos ON tickets (change_pos, id);
ALTER TABLE tickets ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX tickets_external_ref ON tickets (external_ref);
""",
    ),
    (
        16,
        # amendments of signed content (a ``signoff.amend`` op): what changed after the customer signed,
        # why, when and by whom; the service report lists them apart from the signed content
        """
CREATE TABLE amendments (op_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, edit_op_id TEXT NOT NULL,
  target TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL, device_id TEXT NOT NULL,
  engineer_id TEXT NOT NULL, at {big} NOT NULL, recorded_at {big} NOT NULL);
CREATE INDEX amendments_job ON amendments (job_id, at);
""",
    ),
    (
        17,
        # customers as records (the ``customers`` and ``sites`` tables of migration 1, unused until now):
        # contacts, the ERP's reference (unique), search tokens (sync/core/search.py, space-padded); tickets,
        # plans and assets point at a customer and a site; their ``customer`` and ``site`` columns stay as the
        # names (kept equal to the record's on a rename); a plan's notice in working days (NULL: ``lead_days``
        # calendar days, as before); the warranty claim an old part returned by quantity is booked against
        # (``movements.claim_id``).  The step turns every free-text customer into a record (one per exact
        # name) and every (customer, site name) into a site, and links the rows.
        """
ALTER TABLE customers ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN external_ref TEXT;
ALTER TABLE customers ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN created_at {big} NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN updated_at {big} NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX customers_external_ref ON customers (external_ref);
CREATE INDEX customers_name ON customers (name, id);
CREATE INDEX sites_customer ON sites (customer_id, name);
ALTER TABLE tickets ADD COLUMN customer_id TEXT;
ALTER TABLE tickets ADD COLUMN site_id TEXT;
CREATE INDEX tickets_customer ON tickets (customer_id, opened_at);
ALTER TABLE plans ADD COLUMN customer_id TEXT;
ALTER TABLE plans ADD COLUMN site_id TEXT;
CREATE INDEX plans_customer ON plans (customer_id);
ALTER TABLE plans ADD COLUMN notice_days INTEGER;
ALTER TABLE movements ADD COLUMN claim_id TEXT;
CREATE INDEX movements_claim ON movements (claim_id);
ALTER TABLE assets ADD COLUMN customer_id TEXT;
ALTER TABLE assets ADD COLUMN site_id TEXT;
CREATE INDEX assets_customer_id ON assets (customer_id, serial)
""",
    ),
    (
        18,
        # quarterly service-quality surveys (服务质量测评), one per customer and quarter; the training behind
        # certifications (course, date, trainer, result), and the training a certification was earned with
        """
CREATE TABLE surveys (id TEXT PRIMARY KEY, customer TEXT NOT NULL, quarter TEXT NOT NULL,
  quarter_start TEXT NOT NULL, scores TEXT NOT NULL, overall INTEGER NOT NULL, respondent TEXT NOT NULL,
  comment TEXT NOT NULL DEFAULT '', recorded_by TEXT NOT NULL, created_at {big} NOT NULL,
  UNIQUE (customer, quarter));
CREATE INDEX surveys_quarter ON surveys (quarter_start, customer);
CREATE TABLE trainings (id TEXT PRIMARY KEY, engineer_id TEXT NOT NULL, course TEXT NOT NULL, held_on TEXT NOT NULL,
  trainer TEXT NOT NULL, result TEXT NOT NULL, score INTEGER, notes TEXT NOT NULL DEFAULT '',
  created_at {big} NOT NULL, created_by TEXT NOT NULL);
CREATE INDEX trainings_engineer ON trainings (engineer_id, held_on);
ALTER TABLE certifications ADD COLUMN training_id TEXT;
""",
    ),
    (
        19,
        # the server signing key at rest and its rotation: ``sealed`` 1 when ``private_key`` is encrypted under
        # the operator's key-encryption key (AES-256-GCM, ``server/keys.py``); a rotated key names the key before
        # it and carries that key's signature over it (``endorsement``), which tablets check before trusting it
        """
ALTER TABLE server_keys ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE server_keys ADD COLUMN previous_id TEXT;
ALTER TABLE server_keys ADD COLUMN endorsement {blob};
""",
    ),
    (
        20,
        # KPI targets an admin set (PUT /v1/kpis/targets/{kpi}); no row: the policy file's or the plans' target
        """
CREATE TABLE kpi_targets (kpi TEXT PRIMARY KEY, target DOUBLE PRECISION NOT NULL, set_at {big} NOT NULL,
  set_by TEXT NOT NULL);
""",
    ),
    (
        21,
        # resumable change-set uploads (the design of blob uploads, migration 8): one upload per device and
        # SHA-256 of the bytes as sent (gzip-coded or not, ``encoding``), its chunks at their offsets; a
        # committed upload keeps its row (chunks dropped) with the hash of the change-set it carried, so a
        # retried commit answers with that change-set's stored receipt, found through the new index
        """
CREATE TABLE changeset_uploads (device_id TEXT NOT NULL, sha256 TEXT NOT NULL, size {big} NOT NULL,
  received {big} NOT NULL, encoding TEXT NOT NULL, created_at {big} NOT NULL, changeset_hash TEXT,
  PRIMARY KEY (device_id, sha256));
CREATE TABLE changeset_upload_chunks (device_id TEXT NOT NULL, sha256 TEXT NOT NULL, offset_ {big} NOT NULL,
  data {blob} NOT NULL, PRIMARY KEY (device_id, sha256, offset_));
CREATE INDEX changesets_device_hash ON changesets (device_id, hash);
""",
    ),
    (
        23,
        # the ERP's own reference of a stock movement and of a catalog part, unique like a ticket's
        """
ALTER TABLE movements ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX movements_external_ref ON movements (external_ref);
ALTER TABLE parts ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX parts_external_ref ON parts (external_ref);
""",
    ),
    (
        24,
        # change-sets accepted (verified, on the device's chain, answered 202 with a signed Accepted) and not
        # merged yet: the envelope as verified, the signed Accepted bytes a duplicate is answered with, the
        # clock offset the device had when it came; a merge moves the row to ``changesets`` (with its receipt)
        # in the transaction that applies it.  A merge that failed unexpectedly keeps its row: ``attempts``,
        # ``last_error`` and ``next_attempt_at`` (epoch ms) say when it is tried again
        """
CREATE TABLE accepted_changesets (device_id TEXT NOT NULL, seq {big} NOT NULL, hash TEXT NOT NULL,
  accepted_at {big} NOT NULL, op_count INTEGER NOT NULL, envelope {blob} NOT NULL, accepted {blob} NOT NULL,
  clock_offset_ms {big} NOT NULL, clock_known INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at {big} NOT NULL DEFAULT 0, last_error TEXT, PRIMARY KEY (device_id, seq));
CREATE INDEX accepted_changesets_due ON accepted_changesets (next_attempt_at, accepted_at);
""",
    ),
]


#: the migration that indexes the knowledge base as search tokens
KB_TOKENS_MIGRATION: Final = 11
#: the ``meta`` key holding the :func:`sync.core.search.fingerprint` the knowledge base was indexed with
KB_TOKENS_KEY: Final = "kb_search_tokens"


def _reindex_kb(tx: Tx) -> None:
    """Every knowledge-base case's ``search_text`` (and on SQLite its ``kb_fts`` row) from its fields anew."""
    if tx.dialect == "sqlite":
        tx.execute("DELETE FROM kb_fts")
    rows = tx.query("SELECT id, symptom, cause, fix, parts, model, equipment_type FROM kb_cases ORDER BY id")
    for r in rows:
        text = kb_index_text(r["symptom"], r["cause"], r["fix"], [str(p) for p in json.loads(r["parts"] or "[]")],
                             r["model"], r["equipment_type"])
        tx.execute("UPDATE kb_cases SET search_text = ? WHERE id = ?", (text, r["id"]))
        if tx.dialect == "sqlite":
            tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)", (r["id"], text))
    tx.execute("DELETE FROM meta WHERE key = ?", (KB_TOKENS_KEY,))
    tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (KB_TOKENS_KEY, fingerprint()))


def _kb_tokens_current(tx: Tx) -> bool:
    row = tx.one("SELECT value FROM meta WHERE key = ?", (KB_TOKENS_KEY,))
    return row is not None and row["value"] == fingerprint()


#: work a migration does beyond its SQL, run after it in the same transaction
def _ticket_change_positions(tx: Tx) -> None:
    """Triggers that give every written ticket row its place in the order of commits (``change_pos``).

    SQLite commits one writer at a time, so one more than the largest position is in commit order.
    PostgreSQL commits concurrently: the position is the writing transaction's id, and a reader reads
    only below the feed's ceiling (``Database.visible_xid_limit``), under which no transaction is still
    in flight -- the same rule as the device feed.
    """
    if tx.dialect == "sqlite":
        tx.execute("UPDATE tickets SET change_pos = rowid")
        tx.execute("CREATE TRIGGER tickets_change_pos_insert AFTER INSERT ON tickets BEGIN "
                   "UPDATE tickets SET change_pos = (SELECT COALESCE(MAX(change_pos), 0) + 1 FROM tickets) "
                   "WHERE id = NEW.id; END")
        tx.execute("CREATE TRIGGER tickets_change_pos_update AFTER UPDATE ON tickets "
                   "WHEN NEW.change_pos = OLD.change_pos BEGIN "
                   "UPDATE tickets SET change_pos = (SELECT MAX(change_pos) + 1 FROM tickets) WHERE id = NEW.id; END")
    else:
        tx.execute("CREATE FUNCTION tickets_change_pos() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "NEW.change_pos := pg_current_xact_id()::text::bigint; RETURN NEW; END $$")
        tx.execute("CREATE TRIGGER tickets_change_pos BEFORE INSERT OR UPDATE ON tickets FOR EACH ROW "
                   "EXECUTE FUNCTION tickets_change_pos()")


#: the migration that orders ticket writes (``tickets.change_pos``)
TICKET_CHANGES_MIGRATION: Final = 15
#: the migration that makes customers records
CUSTOMERS_MIGRATION: Final = 17


def migrated_customer_id(name: str) -> str:
    """The id a free-text customer gets when it becomes a record (the same on every database)."""
    return "C-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def migrated_site_id(customer_id: str, name: str) -> str:
    """The id a free-text site of a customer gets when it becomes a record."""
    return "S-" + hashlib.sha256(f"{customer_id}\n{name}".encode()).hexdigest()[:16]


def _reindex_customers(tx: Tx) -> None:
    for r in tx.query("SELECT id, name, external_ref, contacts FROM customers ORDER BY id"):
        contacts = [str(c.get("name", "")) for c in json.loads(r["contacts"] or "[]")]
        tx.execute("UPDATE customers SET search_text = ? WHERE id = ?",
                   (customer_index_text(r["name"], r["external_ref"], contacts), r["id"]))


def _customers_as_records(tx: Tx) -> None:
    """One customer record per exact customer name of tickets, plans and assets, one site per (customer, site
    name); every row linked to them."""
    rows = tx.query("SELECT customer, site, opened_at AS at FROM tickets UNION ALL "
                    "SELECT customer, site, created_at AS at FROM plans UNION ALL "
                    "SELECT customer, site, created_at AS at FROM assets")
    first: dict[str, int] = {}
    sites: dict[tuple[str, str], None] = {}
    for r in rows:
        name = r["customer"] or ""
        if not name.strip():
            continue
        first[name] = min(first.get(name, int(r["at"])), int(r["at"]))
        if (r["site"] or "").strip():
            sites[(name, r["site"])] = None
    for name in sorted(first):
        cid = migrated_customer_id(name)
        tx.execute("INSERT INTO customers (id, name, search_text, created_by, created_at, updated_at) "
                   "VALUES (?, ?, ?, 'migration', ?, ?) ON CONFLICT (id) DO NOTHING",
                   (cid, name, customer_index_text(name, None, []), first[name], first[name]))
        for table in ("tickets", "plans", "assets"):
            tx.execute(f"UPDATE {table} SET customer_id = ? WHERE customer = ?", (cid, name))
    for name, site in sorted(sites):
        cid = migrated_customer_id(name)
        sid = migrated_site_id(cid, site)
        tx.execute("INSERT INTO sites (id, customer_id, name) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                   (sid, cid, site))
        for table in ("tickets", "plans", "assets"):
            tx.execute(f"UPDATE {table} SET site_id = ? WHERE customer_id = ? AND site = ?", (sid, cid, site))

STEPS: Final[dict[int, Callable[[Tx], None]]] = {KB_TOKENS_MIGRATION: _reindex_kb,
                                                  TICKET_CHANGES_MIGRATION: _ticket_change_positions,
                                                  CUSTOMERS_MIGRATION: _customers_as_records}


class SchemaTooNew(StorageError):
    """The database was migrated by newer code: older code must not write to a schema it does not know."""


def applied_versions(tx: Tx) -> set[int]:
    """The migrations applied to the database (none on a database never migrated); reads only."""
    exists = (tx.one("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
              if tx.dialect == "sqlite" else
              tx.one("SELECT 1 AS found WHERE to_regclass('schema_migrations') IS NOT NULL"))
    if exists is None:
        return set()
    return {int(r["version"]) for r in tx.query("SELECT version FROM schema_migrations")}


def schema_version(tx: Tx) -> int:
    """The newest migration applied to the database (0: none)."""
    return max(applied_versions(tx), default=0)


def pending_versions(tx: Tx) -> list[int]:
    """The migrations this code knows that the database has not applied, in order."""
    done = applied_versions(tx)
    return [version for version, _ in MIGRATIONS if version not in done]


def render(sql: str, dialect: Dialect) -> list[str]:
    """Fill in the dialect's types and split into single statements."""
    text = sql.format(**TYPES[dialect])
    return [s.strip() for s in text.split(";") if s.strip()]


def migrate(tx: Tx) -> list[int]:
    """Apply pending migrations inside ``tx``; return the versions applied."""
    tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    done = applied_versions(tx)
    newest = max(done, default=0)
    if newest > latest_version():
        raise SchemaTooNew(f"the database is at schema version {newest}, newer than this fieldsync knows "
                           f"({latest_version()}): a newer release migrated it; run that release or newer")
    applied = []
    for version, sql in MIGRATIONS:
        if version in done:
            continue
        for statement in render(sql, tx.dialect):
            tx.execute(statement)
        if version in STEPS:
            STEPS[version](tx)
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, CURRENT_TIMESTAMP)", (version,))
        applied.append(version)
    if KB_TOKENS_MIGRATION in done and not _kb_tokens_current(tx):  # the tokens changed since the cases were indexed
        if CUSTOMERS_MIGRATION in done:
            _reindex_customers(tx)
        _reindex_kb(tx)
    return applied


def latest_version() -> int:
    """The newest migration version this code knows."""
    return MIGRATIONS[-1][0]
