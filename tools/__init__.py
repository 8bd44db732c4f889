"""Developer tools that sit beside the product: nothing in ``server`` or ``client_sdk`` imports them."""
