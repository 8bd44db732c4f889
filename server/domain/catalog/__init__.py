"""Catalog: engineers, checklist templates, parts, stock locations and the parts ledger."""
