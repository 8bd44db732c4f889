"""Knowledge base of solved cases, searchable by model and words, sent to tablets for offline search."""
