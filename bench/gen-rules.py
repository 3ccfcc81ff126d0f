#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes N random rules in splicer's batch syntax (add lines) to stdout.

    gen-rules.py N [SEED] [--redirect PORT] [--dev IFACE] [--exclude ADDR:PORT]
                 [--family 4|6|mix] [--exact]

The mix: destination prefixes of every length from /0 to /32, most of
them long (services are mostly hosts and small subnets), some with a
source prefix or an interface scope; single ports, small ranges and the
full 1-65535; TCP and UDP; redirect, pass and drop actions. Every match
is distinct, so the file holds exactly N rules.

--family 6 writes IPv6 rules instead, with the same mix over /0 to /128
(redirect PORT of an IPv6 rule is [::1]:PORT); --family mix writes each
rule of either family, half and half. --exact gives every rule a single
address as its destination (/32, /128): services and nothing else.

--exclude ADDR:PORT ([ADDR6]:PORT for IPv6) draws again every rule that a
TCP packet to ADDR:PORT would match (from any source, on any interface),
so that the benchmark has a destination no rule matches: without it, a
large set almost always holds a catch-all such as 0.0.0.0/0 tcp 1-65535.
"""
import ipaddress
import random
import sys


def prefix_len(rnd):
    x = rnd.random()
    if x < 0.55:
        return 32
    if x < 0.80:
        return rnd.randint(24, 31)
    if x < 0.95:
        return rnd.randint(16, 23)
    if x < 0.999:
        return rnd.randint(8, 15)
    return rnd.randint(0, 7)


def prefix_len6(rnd):
    x = rnd.random()
    if x < 0.55:
        return 128
    if x < 0.80:
        return rnd.randint(112, 127)
    if x < 0.95:
        return rnd.randint(64, 111)
    if x < 0.999:
        return rnd.randint(32, 63)
    return rnd.randint(0, 31)


def prefix6(rnd, length):
    # in fd00::/8 but for the shortest, which may reach anywhere
    addr = 0xfd << 120 | rnd.getrandbits(120)
    mask = ((1 << 128) - 1) ^ ((1 << (128 - length)) - 1)
    return "%s/%d" % (ipaddress.IPv6Address(addr & mask), length)


def prefix(rnd, length):
    addr = rnd.getrandbits(32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
    return "%d.%d.%d.%d/%d" % (addr >> 24, (addr >> 16) & 255,
                               (addr >> 8) & 255, addr & 255, length)


def ports(rnd):
    x = rnd.random()
    if x < 0.70:
        return str(rnd.randint(1, 65535))
    if x < 0.97:
        lo = rnd.randint(1, 65000)
        return "%d-%d" % (lo, lo + rnd.randint(1, 500))
    return "1-65535"


def matches(dst, proto, port, addr, aport):
    net = ipaddress.ip_network(dst)
    lo, _, hi = port.partition("-")
    return (proto == "tcp" and addr.version == net.version and
            addr in net and int(lo) <= aport <= int(hi or lo))


def main():
    argv = sys.argv[1:]
    args, i = [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            i += 1 if argv[i] == "--exact" else 2
            continue
        args.append(argv[i])
        i += 1
    n = int(args[0])
    rnd = random.Random(int(args[1]) if len(args) > 1 else 1)
    redirect = "9999"
    dev = None
    exclude = None
    if "--redirect" in argv:
        redirect = argv[argv.index("--redirect") + 1]
    if "--dev" in argv:
        dev = argv[argv.index("--dev") + 1]
    if "--exclude" in argv:
        addr, _, port = argv[argv.index("--exclude") + 1].rpartition(":")
        exclude = (ipaddress.ip_address(addr.strip("[]")), int(port))
    family = argv[argv.index("--family") + 1] if "--family" in argv else "4"
    if family not in ("4", "6", "mix"):
        sys.exit("gen-rules.py: --family takes 4, 6 or mix")
    exact = "--exact" in argv
    seen = set()
    out = sys.stdout
    while len(seen) < n:
        v6 = family == "6" or (family == "mix" and rnd.random() < 0.5)
        if v6:
            dst = prefix6(rnd, 128 if exact else prefix_len6(rnd))
        else:
            dst = prefix(rnd, 32 if exact else prefix_len(rnd))
        proto = "tcp" if rnd.random() < 0.8 else "udp"
        port = ports(rnd)
        src = None
        if rnd.random() < 0.1:
            src = (prefix6(rnd, rnd.randint(32, 128)) if v6 else
                   prefix(rnd, rnd.randint(8, 32)))
        scoped = dev is not None and rnd.random() < 0.05
        match = (dst, proto, port, src, scoped)
        if match in seen:
            continue
        if exclude and matches(dst, proto, port, *exclude):
            continue
        seen.add(match)
        x = rnd.random()
        action = ("redirect " + redirect if x < 0.8 else
                  "pass" if x < 0.9 else "drop")
        line = "add %s proto %s port %s %s" % (dst, proto, port, action)
        if src:
            line += " from " + src
        if scoped:
            line += " dev " + dev
        out.write(line + "\n")


if __name__ == "__main__":
    main()
