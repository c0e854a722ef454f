"""The nft and iptables commands a fix quotes to accept the return traffic of established
connections, and the note that an accept in one nftables table does not undo a drop in
another.

A quoted `nft insert rule inet filter input ...` failed on a stock host, which has no
`inet filter` table ("No such file or directory"), and where a table of its own dropped
the packets an accept added to another table changed nothing: every base chain on a hook
judges the packet, and a drop in any of them is final (newuser62: the SYN-ACKs dropped by
a table of the host's own; with the quoted iptables rule in place the job still failed,
iptables-nft's rules being one more table). "Ahead of any drop" holds inside one chain
only, so the command names the table and chain that hold the drop as placeholders
(NFT_PLACEHOLDERS) to be filled from `nft list ruleset`; the iptables command is for a
drop in iptables' own chain (`iptables -S` lists it). The note (other_table_note) goes
with the command, as verify.fix_notes.firewall_pointer gives it to a fix of allow rules.
"""

from __future__ import annotations

# The words a fix's command uses where the host's names go, as `nft list ruleset` prints
# the chain holding the drop: `table FAMILY TABLE { chain CHAIN { type filter hook ...`.
NFT_PLACEHOLDERS = ("FAMILY", "TABLE", "CHAIN")


def nft_accept_command() -> str:
    """The nft command, placeholders and all: "nft insert rule FAMILY TABLE CHAIN ct
    state established,related accept"."""
    return f"nft insert rule {' '.join(NFT_PLACEHOLDERS)} ct state established,related accept"


def established_accept(hook: str, rule: str = "drop", windows: str = "") -> str:
    """The commands, in parentheses, that accept established connections on the `hook`
    ("input", "forward") where a `rule` ("drop", "reject") stops them: nft's in the
    table and chain that hold that rule, with other_table_note, then iptables' for a
    rule in its own chain, then `windows` (words starting "; ", or "")."""
    chain = hook.upper()
    return (f"(nft: `{nft_accept_command()}` in the table and chain on the {hook} hook that "
            f"hold the {rule}, named as `nft list ruleset` prints them; "
            f"{other_table_note(rule)}; iptables, for a {rule} in its own {chain} chain "
            f"(`iptables -S`): `iptables -I {chain} -m conntrack --ctstate "
            f"ESTABLISHED,RELATED -j ACCEPT`{windows})")


def other_table_note(rule: str) -> str:
    """"an accept in one nftables table or chain does not undo a RULE in another on the
    same hook (`nft list ruleset` shows them all): remove or narrow that RULE", `rule`
    "drop", "reject" or "drop or reject"; no capital, no full stop (the caller's sentence)."""
    return (f"an accept in one nftables table or chain does not undo a {rule} in another "
            f"on the same hook (`nft list ruleset` shows them all): remove or narrow that "
            f"{rule}")
