"""Staff users of the console (passwords) and their console sessions: the tables behind sign-in."""
