"""The sync engine: a pure core (``sync.core``), storage adapters and the HTTP transport."""
