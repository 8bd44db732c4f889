"""Service-report PDFs made by the server for the back office."""
