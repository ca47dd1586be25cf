#!/usr/bin/env python3
"""Counts distinct HTTP requests starting with PREFIX in a raw-IP pcap
(LINKTYPE_RAW, as written by `bpfmirror tap -w`): usage pcap_requests.py FILE PREFIX."""
import struct
import sys

def main():
    data = open(sys.argv[1], "rb").read()
    prefix = sys.argv[2].encode()
    off, seen = 24, set()
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
            continue
        ihl = (pkt[0] & 15) * 4
        thl = (pkt[ihl + 12] >> 4) * 4
        if pkt[ihl + thl:].startswith(prefix):
            sport, = struct.unpack("!H", pkt[ihl:ihl + 2])
            seq, = struct.unpack("!I", pkt[ihl + 4:ihl + 8])
            seen.add((pkt[12:16], sport, seq))
    print(len(seen))

if __name__ == "__main__":
    main()
