"""Blobs (photos, attachments): resumable upload per device, addressed by SHA-256."""
