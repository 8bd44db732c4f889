"""Pure sync core: clocks, change-set chains and signatures, merge rules.

Nothing here touches a database, a socket or the system clock: time, ids and
state are passed in and results are returned.  The same code decides merges
on the server and validates writes on the tablet.
"""
