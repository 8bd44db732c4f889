"""Sync: push (verify, chain, merge, receipt), pull (scoped change feed), blobs, report digests."""
