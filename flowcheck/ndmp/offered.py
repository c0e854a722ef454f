"""The version a greeting offers is not always the version the session opened.

An NDMP server's NOTIFY_CONNECTED names its own protocol version; the DMA may open a
lower one with CONNECT_OPEN (ndmjob's `-D host/3`: a v3 job on a v4 server). When the
capture holds the greeting but not the CONNECT_OPEN request that settled the version
(the agent's side only, a lost packet), the collector decodes with the greeting's
version (`version_source` "notify_connected"). A whole body that does not fit that
version's layout but fits a lower version's exactly, with a code that version defines,
shows the session runs the lower version: it is no peer bug (lab matrix seed 65 run 19:
ndmjob's v3 DATA_GET_STATE replies, captured `-Q out` on the agent, read
`ndmp_undecodable` "body does not follow the message's layout" and the session v4).
"""

from __future__ import annotations

from flowcheck.model import NdmpStream
from flowcheck.ndmp.messages import fitting_versions
from flowcheck.ndmp.protocol import MESSAGE_NAMES


def opened_below_offer(stream: NdmpStream, code: int, short_name: str, is_reply: bool,
                       body: bytes) -> set[int]:
    """The versions below the greeting's whose layout fits this whole `body` exactly and
    that define `code`; empty unless the stream's version is only the greeting's (no
    captured CONNECT_OPEN settled it). Call it for a body that did not fit the greeting's
    version."""
    if stream.version_source != "notify_connected" or stream.version is None:
        return set()
    return {version for version in fitting_versions(short_name, is_reply, body)
            if version < stream.version and code in MESSAGE_NAMES[version]}
