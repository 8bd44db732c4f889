"""Tickets and jobs: the dispatcher's side (create, assign, reassign) and the ticket timeline."""
