"""TLS for the lab's control connection: begun in band after CONNECT_CLIENT_AUTH, or
from the connection's first byte.

Some NDMP servers and backup products secure the control connection once the peers
trust each other: the session opens in the clear (NOTIFY_CONNECTED, CONNECT_OPEN,
CONNECT_CLIENT_AUTH), then both sides go on in TLS over the same TCP connection, which a
capture shows as NDMP records followed by TLS records (RFC 8446 5.1). The lab's peers do
so with `--tls` (`--tls auth`). Others secure it from the start (NetApp ONTAP's secure
control connection): the TLS handshake comes first, the NDMP greeting inside it, so a
capture shows TLS records only; the lab's peers do so with `--tls start`. Both use
Python's ssl (the machine's OpenSSL): a real handshake and real encrypted records, with a
throwaway self-signed certificate nobody verifies.

Errors: subprocess.CalledProcessError when `openssl` cannot make the certificate,
ssl.SSLError from the handshake.
"""

from __future__ import annotations

import functools
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

# When the peers go on in TLS ("" never): "auth" after the CONNECT_CLIENT_AUTH reply,
# "start" from the control connection's first byte (media/agent --tls [WHEN]).
TlsWhen = Literal["", "auth", "start"]
TLS_WHEN = ("auth", "start")


def client_context() -> ssl.SSLContext:
    """The media server's side: any certificate accepted (a lab's throwaway one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.cache
def server_context() -> ssl.SSLContext:
    """The agent's side, with a self-signed P-256 certificate made for this run (once:
    every control connection of the process shares it). Raises OSError (openssl
    missing) or subprocess.CalledProcessError (openssl failed)."""
    with tempfile.TemporaryDirectory(prefix="fc-lab-tls-") as folder:
        key, cert = Path(folder) / "key.pem", Path(folder) / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=flowcheck-lab-agent", "-keyout", str(key),
                        "-out", str(cert)], check=True, capture_output=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    return context
