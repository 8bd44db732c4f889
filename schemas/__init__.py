"""Wire and domain types of fieldsync (msgspec Structs) and their codecs.

Everything a tablet, the sync server and the back office exchange is defined
here and nowhere else.  ``schemas.wire`` holds the sync protocol messages,
``schemas.records`` the pull records a device receives (one tagged Struct per kind),
``schemas.domain`` the records of the service domain, ``schemas.status`` the
job status machine as data and ``schemas.codec`` the encoders built once.
"""

from schemas.wire import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
