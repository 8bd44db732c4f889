"""Customers as records: contacts, sites, assets, the ERP's reference, search, and how tickets point at them."""
