"""Resumable change-set uploads: a push sent in chunks that survives a cut link and a server restart."""
