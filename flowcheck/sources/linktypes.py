"""Names of libpcap link types (https://www.tcpdump.org/linktypes.html), as tcpdump and
libpcap spell them without the LINKTYPE_/DLT_ prefix, for the capture summary. Which
of them flowcheck decodes is flowcheck.decode.link's business (docs/formats.md)."""

from __future__ import annotations

NAMES = {
    0: "NULL", 1: "EN10MB", 3: "AX25", 6: "IEEE802", 7: "ARCNET_BSD", 8: "SLIP", 9: "PPP",
    10: "FDDI", 50: "PPP_HDLC", 51: "PPP_ETHER", 100: "ATM_RFC1483", 101: "RAW",
    104: "C_HDLC", 105: "IEEE802_11", 107: "FRELAY", 108: "LOOP", 113: "LINUX_SLL",
    114: "LTALK", 117: "PFLOG", 119: "IEEE802_11_PRISM", 122: "IP_OVER_FC", 123: "SUNATM",
    127: "IEEE802_11_RADIOTAP", 129: "ARCNET_LINUX", 130: "JUNIPER_MLPPP",
    131: "JUNIPER_MLFR", 132: "JUNIPER_ES", 133: "JUNIPER_GGSN", 134: "JUNIPER_MFR",
    135: "JUNIPER_ATM2", 136: "JUNIPER_SERVICES", 137: "JUNIPER_ATM1",
    138: "APPLE_IP_OVER_IEEE1394", 139: "MTP2_WITH_PHDR", 140: "MTP2", 141: "MTP3",
    142: "SCCP", 143: "DOCSIS", 144: "LINUX_IRDA",
    **{147 + n: f"USER{n}" for n in range(16)},
    163: "IEEE802_11_AVS", 164: "JUNIPER_MONITOR", 165: "BACNET_MS_TP", 166: "PPP_PPPD",
    167: "JUNIPER_PPPOE", 168: "JUNIPER_PPPOE_ATM", 169: "GPRS_LLC", 177: "LINUX_LAPD",
    178: "JUNIPER_ETHER", 179: "JUNIPER_PPP", 180: "JUNIPER_FRELAY", 181: "JUNIPER_CHDLC",
    182: "MFR", 183: "JUNIPER_VP", 187: "BLUETOOTH_HCI_H4", 189: "USB_LINUX", 192: "PPI",
    195: "IEEE802_15_4_WITHFCS", 197: "ERF", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    203: "LAPD", 204: "PPP_WITH_DIR", 205: "C_HDLC_WITH_DIR", 206: "FRELAY_WITH_DIR",
    215: "IEEE802_15_4_NONASK_PHY", 220: "USB_LINUX_MMAPPED", 226: "IPNET",
    227: "CAN_SOCKETCAN", 228: "IPV4", 229: "IPV6", 230: "IEEE802_15_4_NOFCS", 231: "DBUS",
    239: "NFLOG", 240: "NETANALYZER", 241: "NETANALYZER_TRANSPARENT", 242: "IPOIB",
    243: "MPEG_2_TS", 247: "INFINIBAND", 248: "SCTP", 249: "USBPCAP",
    251: "BLUETOOTH_LE_LL", 253: "NETLINK", 254: "BLUETOOTH_LINUX_MONITOR", 258: "PKTAP",
    259: "EPON", 266: "USB_DARWIN", 270: "LORATAP", 271: "VSOCK", 272: "NORDIC_BLE",
    274: "ETHERNET_MPACKET", 276: "LINUX_SLL2", 280: "VPP_DISPATCH", 281: "DSA_TAG_BRCM",
    282: "DSA_TAG_BRCM_PREPEND", 283: "IEEE802_15_4_TAP", 284: "DSA_TAG_DSA",
    285: "DSA_TAG_EDSA", 288: "USB_2_0",
}


def linktype_name(linktype: int) -> str:
    """The link type's name, or LINKTYPE_<number> for one libpcap does not name."""
    return NAMES.get(linktype, f"LINKTYPE_{linktype}")
