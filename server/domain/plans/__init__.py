"""Preventive inspection plans: recurring visits per asset or site, generated ahead by the scheduler."""
