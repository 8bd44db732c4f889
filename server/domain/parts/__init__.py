"""Parts beyond the catalog: assets and their warranty, van stock with serials, warranty claims."""
