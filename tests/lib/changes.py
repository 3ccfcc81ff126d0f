#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The state changes a splicer command made, in order, from its strace log.

    strace -f -o LOG -e trace=bpf,close,sendto,sendmsg -e signal=none CMD
    changes.py LOG

prints one line per change, in the order the syscalls were made:

    map NAME update|delete       a write to a pinned map (by its pin name)
    map NAME freeze              a map made read-only (a rule set, done)
    pin NAME                     a new pin under the pin root
    nl RTM_NEWTFILTER ...         an rtnetlink request that changes things

A map is named by the BPF_OBJ_GET of its pin or the BPF_MAP_CREATE that
made it; fds are followed through close() so a reused fd is not taken
for the map it held before. Dumps and link lookups (RTM_GET*) are left
out: they change nothing.
"""
import re
import sys

LINE = re.compile(r"^(?:\d+ +)?(\w+)\((.*)\) += (-?\d+)")


def main(path):
    fds = {}
    for raw in open(path):
        m = LINE.match(raw.strip())
        if not m:
            continue
        call, args, ret = m.group(1), m.group(2), int(m.group(3))
        if call == "close":
            fds.pop(args.strip(), None)
        elif call == "bpf" and ret >= 0 and args.startswith("BPF_OBJ_GET"):
            name = re.search(r'pathname="[^"]*/([^/"]+)"', args)
            if name:
                fds[str(ret)] = name.group(1)
        elif call == "bpf" and ret >= 0 and args.startswith("BPF_MAP_CREATE"):
            name = re.search(r'map_name="([^"]*)"', args)
            fds[str(ret)] = name.group(1) if name else "?"
        elif call == "bpf" and ret == 0 and args.startswith("BPF_OBJ_PIN"):
            name = re.search(r'pathname="[^"]*/([^/"]+)"', args)
            print("pin %s" % (name.group(1) if name else "?"))
        elif call == "bpf" and ret == 0 and args.startswith("BPF_MAP_FREEZE"):
            fd = re.search(r"map_fd=(\d+)", args).group(1)
            print("map %s freeze" % fds.get(fd, "fd" + fd))
        elif call == "bpf" and ret == 0 and (
                args.startswith("BPF_MAP_UPDATE_ELEM") or
                args.startswith("BPF_MAP_DELETE_ELEM")):
            fd = re.search(r"map_fd=(\d+)", args).group(1)
            kind = "update" if "UPDATE" in args else "delete"
            print("map %s %s" % (fds.get(fd, "fd" + fd), kind))
        elif call in ("sendto", "sendmsg"):
            for t in re.findall(r"nlmsg_type=(RTM_\w+)", args):
                if not t.startswith("RTM_GET"):
                    print("nl %s" % t)


if __name__ == "__main__":
    main(sys.argv[1])
