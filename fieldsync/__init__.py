"""The ``fieldsync`` command: the product's commands composed with the developer tools' (see :mod:`fieldsync.cli`)."""
