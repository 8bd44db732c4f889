"""The enrollment link a tablet opens (from the console's QR code) to enroll with a one-time token.

``<server>/tablet/#/enroll?token=<url-encoded token>``: the token travels in the URL fragment, which a
browser never sends, so it does not land in server or proxy logs.  The console makes the link
(:func:`enrollment_link`); a tablet takes either the link or the bare token (:func:`enrollment_token`).
The link is part of the wire format, so it lives with the wire types: the server and the tablet
both import it, and neither pulls in the other's libraries for it.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs, quote

#: the part of the link between the server's base URL and the token
LINK_PATH: Final = "/tablet/#/enroll?token="


def enrollment_link(server_url: str, token: str) -> str:
    """The link a tablet opens to enroll with ``token`` at ``server_url`` (scheme, host, port)."""
    return server_url.rstrip("/") + LINK_PATH + quote(token, safe="")


def enrollment_token(text: str) -> str:
    """The token in an enrollment link, or ``text`` itself when it is a bare token.

    Raises ``ValueError`` for a link that carries no token.
    """
    text = text.strip()
    if "#" not in text and "://" not in text:
        return text
    _, _, fragment = text.partition("#")
    route, _, query = fragment.partition("?")
    tokens = parse_qs(query).get("token") if route.rstrip("/") == "/enroll" else None
    if not tokens or not tokens[0].strip():
        raise ValueError("not an enrollment link: expected <server>/tablet/#/enroll?token=...")
    return tokens[0].strip()
