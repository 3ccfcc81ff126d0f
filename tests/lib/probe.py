#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Small network probes for the splicer tests and demo.

Servers run until killed (the tests wrap them in `timeout`) and print one
line per event on stdout, flushed, so a test can read what they saw.
Clients exit with:
    0  got an answer (printed on stdout)
    1  usage or unexpected local error
    2  timeout: nothing came back (what a silent drop looks like)
    3  refused or reset: the peer's stack answered with RST / ICMP

Subcommands:
  tcp-server         --port P [--port P ...] [--bind IP] [--http] [--tag]
                     Answers every connection with
                     "local=IP:PORT peer=IP:PORT\\n" (its own address and the
                     peer's, as the accepted socket sees them); --tag appends
                     " listener=IP:PORT"; --http wraps the line in an
                     HTTP/1.0 response after reading the request.
  udp-server         --port P [--port P ...] [--bind IP] [--tag]
                     Answers every datagram with the same kind of line.
  udp-tproxy-server  --port P [--bind 127.0.0.1]
                     IP_TRANSPARENT + IP_RECVORIGDSTADDR listener; answers
                     each datagram from its ORIGINAL destination address
                     (a second IP_TRANSPARENT socket bound to it) with
                     "orig=IP:PORT peer=IP:PORT\\n".
  tcp-client         --connect IP:PORT [--src IP[:PORT]] [--timeout S]
                     [--send DATA] [--reuseaddr]
  udp-client         --connect IP:PORT [--src IP[:PORT]] [--timeout S]
                     [--count N] [--size B] [--no-wait] [--unconnected]
                     [--fragment]
  raw-frame          --dev IF --dst-mac MAC --ethertype 0xNNNN
                     [--count N] [--payload-len B]
"""

import argparse
import errno
import os
import select
import socket
import struct
import sys
import threading

IP_TRANSPARENT = getattr(socket, "IP_TRANSPARENT", 19)
IP_RECVORIGDSTADDR = getattr(socket, "IP_RECVORIGDSTADDR", 20)
IP_ORIGDSTADDR = IP_RECVORIGDSTADDR
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_DONT = getattr(socket, "IP_PMTUDISC_DONT", 0)

EXIT_OK, EXIT_ERR, EXIT_TIMEOUT, EXIT_REFUSED = 0, 1, 2, 3


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def fmt(addr):
    return "%s:%d" % (addr[0], addr[1])


def parse_hostport(s, default_port=0):
    if ":" in s:
        host, port = s.rsplit(":", 1)
        return host, int(port)
    return s, default_port


# ---------------------------------------------------------------- servers


def tcp_handle(conn, listener, args):
    try:
        conn.settimeout(5)
        local, peer = conn.getsockname(), conn.getpeername()
        line = "local=%s peer=%s" % (fmt(local), fmt(peer))
        if args.tag:
            line += " listener=%s" % fmt(listener)
        log("accept " + line)
        if args.http:
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                req += chunk
            body = (line + "\n").encode()
            head = ("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n"
                    % len(body)).encode()
            conn.sendall(head + body)
        else:
            conn.sendall((line + "\n").encode())
        # Close first (our side ends in TIME_WAIT), but drain what the
        # client sends so close() never turns into a reset.
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
    except OSError as e:
        log("error %s" % e)
    finally:
        conn.close()


def cmd_tcp_server(args):
    socks = []
    for port in args.port:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if args.transparent:
            s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        s.bind((args.bind, port))
        s.listen(128)
        socks.append(s)
    log("listening tcp " + " ".join(fmt(s.getsockname()) for s in socks))
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            conn, _ = s.accept()
            t = threading.Thread(target=tcp_handle,
                                 args=(conn, s.getsockname(), args),
                                 daemon=True)
            t.start()


def cmd_udp_server(args):
    socks = []
    for port in args.port:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.bind, port))
        socks.append(s)
    log("listening udp " + " ".join(fmt(s.getsockname()) for s in socks))
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            data, peer = s.recvfrom(65535)
            line = "local=%s peer=%s" % (fmt(s.getsockname()), fmt(peer))
            if args.tag:
                line += " listener=%s" % fmt(s.getsockname())
            log("recv %s len=%d" % (line, len(data)))
            if not args.silent:
                s.sendto((line + "\n").encode(), peer)


def parse_origdst(ancdata):
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_IP and ctype == IP_ORIGDSTADDR:
            # struct sockaddr_in: family (host order), port, address
            port = struct.unpack("!H", cdata[2:4])[0]
            addr = socket.inet_ntoa(cdata[4:8])
            return addr, port
    return None


def cmd_udp_tproxy_server(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
    s.bind((args.bind, args.port[0]))
    log("listening udp-tproxy " + fmt(s.getsockname()))
    while True:
        data, anc, _flags, peer = s.recvmsg(65535, socket.CMSG_SPACE(64))
        orig = parse_origdst(anc)
        if orig is None:
            log("recv peer=%s len=%d no-origdst" % (fmt(peer), len(data)))
            continue
        line = "orig=%s peer=%s" % (fmt(orig), fmt(peer))
        log("recv %s len=%d" % (line, len(data)))
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            r.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            r.bind(orig)
            r.sendto((line + "\n").encode(), peer)
        except OSError as e:
            log("reply-error %s" % e)
        finally:
            r.close()


# ---------------------------------------------------------------- clients


def bind_src(s, src):
    if src:
        host, port = parse_hostport(src)
        s.bind((host, port))


def classify_error(e):
    if isinstance(e, socket.timeout):
        return EXIT_TIMEOUT
    if e.errno in (errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.EPIPE):
        return EXIT_REFUSED
    if e.errno in (errno.ETIMEDOUT, errno.EAGAIN):
        return EXIT_TIMEOUT
    return EXIT_ERR


def cmd_tcp_client(args):
    dst = parse_hostport(args.connect)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        bind_src(s, args.src)
        s.settimeout(args.timeout)
        s.connect(dst)
        if args.send:
            s.sendall(args.send.encode())
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        code = classify_error(e)
        sys.stderr.write("tcp-client %s: %s\n" % (args.connect,
                         "timeout" if code == EXIT_TIMEOUT else e))
        return code
    finally:
        s.close()
    sys.stdout.write(data.decode(errors="replace"))
    sys.stdout.flush()
    return EXIT_OK if data else EXIT_REFUSED


def cmd_udp_client(args):
    dst = parse_hostport(args.connect)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.fragment:
        s.setsockopt(socket.SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    payload = (b"splicer-probe-" * (args.size // 14 + 1))[:args.size]
    try:
        bind_src(s, args.src)
        if not args.unconnected:
            s.connect(dst)
        for _ in range(args.count):
            if args.unconnected:
                s.sendto(payload, dst)
            else:
                s.send(payload)
        if args.no_wait:
            return EXIT_OK
        s.settimeout(args.timeout)
        got = 0
        while got < args.count:
            data, peer = s.recvfrom(65535)
            if args.unconnected and peer != dst:
                continue
            sys.stdout.write(data.decode(errors="replace"))
            sys.stdout.flush()
            got += 1
            # after the first answer, only wait briefly for the rest
            s.settimeout(min(args.timeout, 1.0))
    except OSError as e:
        if isinstance(e, socket.timeout) and args.count > 1 and got > 0:
            sys.stderr.write("udp-client: %d of %d answers\n"
                             % (got, args.count))
            return EXIT_TIMEOUT
        code = classify_error(e)
        sys.stderr.write("udp-client %s: %s\n" % (args.connect,
                         "timeout" if code == EXIT_TIMEOUT else e))
        return code
    finally:
        s.close()
    return EXIT_OK


def cmd_raw_frame(args):
    mac = bytes(int(b, 16) for b in args.dst_mac.split(":"))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.dev, 0))
    src = s.getsockname()[4][:6]
    ethertype = int(args.ethertype, 0)
    if args.payload_hex:
        payload = bytes.fromhex(args.payload_hex)
    else:
        payload = bytes(args.payload_len)
    frame = mac + src + struct.pack("!H", ethertype) + payload
    for _ in range(args.count):
        s.send(frame)
    s.close()
    log("sent %d frames of %d bytes ethertype 0x%04x"
        % (args.count, len(frame), ethertype))
    return EXIT_OK


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    for name in ("tcp-server", "udp-server", "udp-tproxy-server"):
        sp = sub.add_parser(name)
        sp.add_argument("--port", type=int, action="append", required=True)
        sp.add_argument("--bind", default="127.0.0.1" if "tproxy" in name
                        else "0.0.0.0")
        sp.add_argument("--tag", action="store_true")
        if name == "tcp-server":
            sp.add_argument("--http", action="store_true")
            sp.add_argument("--transparent", action="store_true")
        if name == "udp-server":
            sp.add_argument("--silent", action="store_true",
                            help="log datagrams, never answer")

    sp = sub.add_parser("tcp-client")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--src")
    sp.add_argument("--timeout", type=float, default=5.0)
    sp.add_argument("--send")
    sp.add_argument("--reuseaddr", action="store_true")

    sp = sub.add_parser("udp-client")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--src")
    sp.add_argument("--timeout", type=float, default=5.0)
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--size", type=int, default=32)
    sp.add_argument("--no-wait", action="store_true")
    sp.add_argument("--unconnected", action="store_true")
    sp.add_argument("--fragment", action="store_true",
                    help="let the kernel fragment (IP_PMTUDISC_DONT)")

    sp = sub.add_parser("raw-frame")
    sp.add_argument("--dev", required=True)
    sp.add_argument("--dst-mac", required=True)
    sp.add_argument("--ethertype", required=True)
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--payload-len", type=int, default=46)
    sp.add_argument("--payload-hex")

    args = p.parse_args()
    fn = {
        "tcp-server": cmd_tcp_server,
        "udp-server": cmd_udp_server,
        "udp-tproxy-server": cmd_udp_tproxy_server,
        "tcp-client": cmd_tcp_client,
        "udp-client": cmd_udp_client,
        "raw-frame": cmd_raw_frame,
    }[args.cmd]
    try:
        return fn(args) or 0
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
