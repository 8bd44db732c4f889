"""Back-office reconciliation: discrepancies derived from the records at read time."""
