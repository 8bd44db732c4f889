"""The service report as a document: the PDF a customer's signature is printed in, sealed and verified offline.

Above ``schemas`` and ``sync.core`` (it renders what they define and checks
signatures with their functions) and below ``server`` and ``client_sdk`` (the
tablet renders its copy, the server its sealed copy, ``fieldsync verify``
checks either), so both may import it without an edge pointing back up.  It
is not in ``sync``: it renders files for people, it does not move data.
"""
