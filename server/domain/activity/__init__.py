"""What changed lately, for screens that refresh when it does (the console's live updates)."""
