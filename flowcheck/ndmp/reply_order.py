"""A control stream's messages with each reply after its request
(replies_after_requests), for a capture point that reorders packets between the two
directions; the collector (flowcheck.ndmp.collector) orders each stream so once it is
decoded.
"""

from __future__ import annotations

from flowcheck.model import NdmpMessage, other_direction


def replies_after_requests(messages: list[NdmpMessage]) -> list[NdmpMessage]:
    """The messages (in capture order) with each reply that came before its request
    moved to just after it: a capture point that reorders packets between the two
    directions (a cloud mirror to a load-balanced target, field check 36: a DATA_LISTEN
    reply 0.4 ms before its request read as never answered) still shows the reply answers
    that request, by its reply_sequence (the NDMP header's: a side's sequence numbers
    count up and do not repeat on a connection). Replies without a reply_sequence, and
    the order of everything else, stay as captured. The same list when none moves."""
    requests = {(m.direction, m.sequence): index for index, m in enumerate(messages)
                if m.type == "request"}
    anchors = []
    moved = False
    for index, message in enumerate(messages):
        anchor = float(index)
        if message.type == "reply" and message.reply_sequence:
            asked = requests.get((other_direction(message.direction), message.reply_sequence))
            if asked is not None and asked > index:
                anchor, moved = asked + 0.5, True
        anchors.append(anchor)
    if not moved:
        return messages
    order = sorted(range(len(messages)), key=anchors.__getitem__)
    return [messages[index] for index in order]
