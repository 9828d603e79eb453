"""What the destination and error-text tests need beyond tests/smtp_servers.py: a
banner of a peer that is not SMTP, and server certificates for chosen names."""

from __future__ import annotations

import ssl

import trustme

from tests.smtp_servers import aiosmtpd_server, free_port, scripted_peer

__all__ = ["SSH_BANNER", "aiosmtpd_server", "free_port", "scripted_peer", "server_context"]

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 internal-db-07.corp.example\r\n"


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server certificate for `names`, issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


