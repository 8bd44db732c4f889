"""The service archive: an asset's and a customer's history, and the asset record a tablet keeps."""
