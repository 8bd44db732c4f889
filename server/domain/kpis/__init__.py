"""Service quality figures over a period (first-time fix, response times, parts, satisfaction)."""
