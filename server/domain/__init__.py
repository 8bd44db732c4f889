"""Back-office domains, one folder each: services (the work) and controllers (HTTP)."""
