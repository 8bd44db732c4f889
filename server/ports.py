"""The listening socket of ``fieldsync serve`` and ``fieldsync demo``, claimed before anything is promised.

A command that is about to print a console URL (or spend seconds preparing a
demo) first makes sure it can listen where it says it will, so a port that is
already taken is one clear line and exit 2, not a URL to a server that never
starts followed by uvicorn's own exit code.  The socket is bound as uvicorn
binds its own (``SO_REUSEADDR``, so a restart is not refused while old
connections linger).
"""

from __future__ import annotations

import errno
import socket


class PortUnavailable(Exception):
    """The address cannot be listened on; the message is one line for the operator."""


def claim_port(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or :class:`PortUnavailable` saying why not."""
    if not 0 < port < 65536:
        raise PortUnavailable(f"port {port} is not a port number (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            why = "the port is already in use (another server?); choose another with --port"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges); choose another with --port"
        else:
            why = (exc.strerror or str(exc)).splitlines()[0]
        raise PortUnavailable(f"cannot listen on {where}: {why}") from exc
    sock.set_inheritable(True)
    return sock


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortUnavailable` unless ``host:port`` can be listened on right now."""
    claim_port(host, port).close()
