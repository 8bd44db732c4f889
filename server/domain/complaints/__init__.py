"""Complaints: opened from low ratings, closed only once the customer confirms."""
