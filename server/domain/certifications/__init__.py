"""Engineers' certifications per equipment type, and the dispatch check that uses them."""
