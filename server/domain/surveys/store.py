"""SQL of the quarterly service-quality surveys (``surveys``)."""

from __future__ import annotations

from sync.storage import Row, Tx


def insert(tx: Tx, survey_id: str, customer: str, quarter: str, quarter_start: str, scores_json: str, overall: int,
           respondent: str, comment: str, by: str, now: int) -> bool:
    """The survey, once per (customer, quarter); False when that quarter's survey of the customer exists."""
    return tx.execute("INSERT INTO surveys (id, customer, quarter, quarter_start, scores, overall, respondent, "
                      "comment, recorded_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (customer, quarter) DO NOTHING",
                      (survey_id, customer, quarter, quarter_start, scores_json, overall, respondent, comment, by,
                       now)) == 1


def survey(tx: Tx, survey_id: str) -> Row | None:
    return tx.one("SELECT * FROM surveys WHERE id = ?", (survey_id,))


def of_customer_quarter(tx: Tx, customer: str, quarter: str) -> Row | None:
    return tx.one("SELECT * FROM surveys WHERE customer = ? AND quarter = ?", (customer, quarter))


def page(tx: Tx, customer: str | None, first: str, last: str, after: tuple[str, str, str] | None,
         limit: int) -> list[Row]:
    """Surveys of quarters starting in ``[first, last)`` (dates), by quarter, customer and id, after ``after``."""
    sql, params = "SELECT * FROM surveys WHERE quarter_start >= ? AND quarter_start < ?", [first, last]
    if customer is not None:
        sql += " AND customer = ?"
        params.append(customer)
    if after is not None:
        sql += " AND (quarter_start > ? OR (quarter_start = ? AND (customer > ? OR (customer = ? AND id > ?))))"
        params += [after[0], after[0], after[1], after[1], after[2]]
    return tx.query(sql + " ORDER BY quarter_start, customer, id LIMIT ?", [*params, limit])


def in_period(tx: Tx, customer: str | None, first: str, last: str) -> list[Row]:
    """Every survey of quarters starting in ``[first, last)``, by quarter and customer."""
    sql, params = "SELECT * FROM surveys WHERE quarter_start >= ? AND quarter_start < ?", [first, last]
    if customer is not None:
        sql += " AND customer = ?"
        params.append(customer)
    return tx.query(sql + " ORDER BY quarter_start, customer, id", params)
