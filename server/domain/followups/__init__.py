"""Follow-up calls after a resolved ticket and the satisfaction taken on them."""
