"""Conflict review: the queue of disagreeing writes and their resolution."""
