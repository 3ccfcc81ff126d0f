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
                     [--sink] [--bulk B] [--reuseport]
                     Answers every connection with
                     "local=IP:PORT peer=IP:PORT\\n" (its own address and the
                     peer's, as the accepted socket sees them); --tag appends
                     " listener=IP:PORT"; --http wraps the line in an
                     HTTP/1.0 response after reading the request;
                     --sink reads to end of stream first and answers
                     "received=N" instead; --bulk sends B bytes instead;
                     --reuseport sets SO_REUSEPORT.
  udp-server         --port P [--port P ...] [--bind IP] [--tag]
                     Answers every datagram with the same kind of line.
  udp-tproxy-server  --port P [--bind 127.0.0.1|::1]
                     IP_TRANSPARENT + IP_RECVORIGDSTADDR listener (the
                     IPV6_ ones for an IPv6 --bind); answers
                     each datagram from its ORIGINAL destination address
                     (a second IP_TRANSPARENT socket bound to it) with
                     "orig=IP:PORT peer=IP:PORT\\n".
  tcp-client         --connect IP:PORT [--src IP[:PORT]] [--timeout S]
                     [--send DATA] [--send-size B] [--reuseaddr]
                     [--ip-options HEX] [--count-bytes]
                     --send-size sends B bytes (then shuts down writing);
                     --ip-options sets IP_OPTIONS on the socket;
                     --count-bytes prints "received=N", not what came.
  udp-client         --connect IP:PORT [--src IP[:PORT]] [--timeout S]
                     [--count N] [--size B] [--no-wait] [--unconnected]
                     [--fragment]
  tcp-loop           --connect IP:PORT [--count N] [--until FILE]
                     [--src IP] [--ports LO-HI] [--timeout S] [--log FILE]
                     [--max-seconds S]
                     Connects again and again (N times, or until FILE
                     exists, within S seconds at most), each time reading
                     the server's line to its end. --ports cycles the
                     source port through LO-HI (SO_REUSEADDR), so 4-tuples
                     come back while the server side is in TIME_WAIT.
                     Writes one line per connection to --log ("ok
                     listener=IP:PORT retrans=N", "timeout", "refused",
                     "error ...") and ends with a summary on stdout:
                     "ok=N timeout=N refused=N error=N retrans=N" and one
                     "listener=IP:PORT N" line per listener seen; exits 0
                     if every connection got an answer.
  seq-server         --port P [--bind IP]
                     Reads numbered lines ("0\\n", "1\\n", ...) from each
                     connection, logging "accept local=IP:PORT peer=IP:PORT",
                     "at N" every 100 lines, and at the end of the stream
                     "end lines=N gaps=G", which it also sends back (G:
                     lines that were not the next number); "error ..."
                     for a reset.
  seq-client         --connect IP:PORT --until FILE [--interval S]
                     [--max-seconds S]
                     One long-lived connection sending numbered lines
                     every S seconds until FILE exists, then the server's
                     verdict: prints "sent=N retrans=R" and the server's
                     "end ..." line; exits 0 if every line arrived in
                     order, 3 on a reset, 2 on a timeout.
  syn-probe          --connect IP:PORT --until FILE [--interval S]
                     Opens a connection every S seconds without waiting
                     for it (nonblocking), gives each 0.2 s, and prints
                     "syns=N connected=M"; exits 0 if none connected
                     (a default-deny port stayed closed throughout).
  raw-frame          --dev IF --dst-mac MAC --ethertype 0xNNNN
                     [--count N] [--payload-len B]
  raw-ip             --dev IF --dst-mac MAC --src IP --dst IP [options]
                     Builds IPv4 packets field by field, including ones the
                     kernel would refuse to build, and sends them through
                     AF_PACKET (see `raw-ip -h`). With --wait S it then
                     listens S seconds on IF for packets from --dst to
                     --src, prints a "reply ..." line for each (--first:
                     stops at the first) and exits 0 if one came, 2 if
                     none did.
"""

import argparse
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

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
    if ":" in addr[0]:
        return "[%s]:%d" % (addr[0], addr[1])
    return "%s:%d" % (addr[0], addr[1])


def parse_hostport(s, default_port=0):
    """IP:PORT, [IPV6]:PORT, IP or IPV6; [fe80::1%eth0]:PORT carries its
    interface as the socket address's scope."""
    if s.startswith("["):
        host, _, port = s[1:].partition("]")
        port = int(port[1:]) if port.startswith(":") else default_port
        if "%" in host:
            host, scope = host.split("%", 1)
            return host, port, 0, socket.if_nametoindex(scope)
        return host, port
    if s.count(":") == 1:
        host, port = s.rsplit(":", 1)
        return host, int(port)
    return s, default_port


def family_of(host):
    """A socket of the address's family: IPv6 for anything with a colon."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def v6only_off(s):
    """A socket bound to :: takes IPv4 too (a dual-stack listener)."""
    if s.family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


# ---------------------------------------------------------------- servers


def tcp_handle(conn, listener, args):
    try:
        conn.settimeout(5)
        local, peer = conn.getsockname(), conn.getpeername()
        line = "local=%s peer=%s" % (fmt(local), fmt(peer))
        if args.tag:
            line += " listener=%s" % fmt(listener)
        log("accept " + line)
        if args.sink:
            got = 0
            conn.settimeout(30)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            log("received %d from %s" % (got, fmt(peer)))
            conn.sendall(("received=%d\n" % got).encode())
        elif args.bulk:
            send_bulk(conn, args.bulk)
            log("sent %d to %s" % (args.bulk, fmt(peer)))
        elif args.http:
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


def send_bulk(s, size):
    block = b"splicer-bulk-" * 5042  # ~64 KiB
    while size > 0:
        size -= s.send(block[:size])


def cmd_tcp_server(args):
    socks = []
    for port in args.port:
        s = socket.socket(family_of(args.bind), socket.SOCK_STREAM)
        v6only_off(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if args.transparent:
            s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        if args.reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
        s = socket.socket(family_of(args.bind), socket.SOCK_DGRAM)
        v6only_off(s)
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


IPV6_TRANSPARENT = 75
IPV6_RECVORIGDSTADDR = 74  # also the control message's type


def parse_origdst(ancdata):
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_IP and ctype == IP_ORIGDSTADDR:
            # struct sockaddr_in: family (host order), port, address
            port = struct.unpack("!H", cdata[2:4])[0]
            addr = socket.inet_ntoa(cdata[4:8])
            return addr, port
        if level == socket.IPPROTO_IPV6 and ctype == IPV6_RECVORIGDSTADDR:
            # struct sockaddr_in6: family, port, flowinfo, address
            port = struct.unpack("!H", cdata[2:4])[0]
            addr = socket.inet_ntop(socket.AF_INET6, cdata[8:24])
            return addr, port
    return None


def transparent(s):
    if s.family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
    else:
        s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)


def cmd_udp_tproxy_server(args):
    s = socket.socket(family_of(args.bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    transparent(s)
    if s.family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1)
    else:
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
        r = socket.socket(s.family, socket.SOCK_DGRAM)
        try:
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            transparent(r)
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
    s = socket.socket(family_of(dst[0]), socket.SOCK_STREAM)
    if args.reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.ip_options:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS,
                     bytes.fromhex(args.ip_options))
    try:
        bind_src(s, args.src)
        s.settimeout(args.timeout)
        s.connect(dst)
        if args.send:
            s.sendall(args.send.encode())
            s.shutdown(socket.SHUT_WR)
        elif args.send_size:
            send_bulk(s, args.send_size)
            s.shutdown(socket.SHUT_WR)
        data = b""
        got = 0
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
            if not args.count_bytes:
                data += chunk
        if args.count_bytes:
            data = ("received=%d\n" % got).encode() if got else b""
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
    s = socket.socket(family_of(dst[0]), socket.SOCK_DGRAM)
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


def tcp_retrans(s):
    """Segments this socket had to retransmit, its SYN included
    (struct tcp_info: tcpi_total_retrans is the u32 at offset 100)."""
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", info, 100)[0] if len(info) >= 104 else 0


def tcp_loop_once(args, dst, src_port):
    """One connection: ("ok", listener, retrans) or (outcome, detail, 0)."""
    s = socket.socket(family_of(dst[0]), socket.SOCK_STREAM)
    try:
        if src_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            any_addr = "::" if s.family == socket.AF_INET6 else "0.0.0.0"
            s.bind((args.src or any_addr, src_port))
        elif args.src:
            s.bind((args.src, 0))
        s.settimeout(args.timeout)
        s.connect(dst)
        retrans = tcp_retrans(s)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            return "busy", str(e), 0
        code = classify_error(e)
        if code == EXIT_TIMEOUT:
            return "timeout", "", 0
        if code == EXIT_REFUSED:
            return "refused", str(e), 0
        return "error", str(e), 0
    finally:
        s.close()
    line = data.decode(errors="replace").strip()
    for word in line.split():
        if word.startswith("listener="):
            return "ok", word[len("listener="):], retrans
    return ("ok", "-", retrans) if line else ("refused", "empty", 0)


def cmd_tcp_loop(args):
    dst = parse_hostport(args.connect)
    ports = []
    if args.ports:
        lo, hi = (int(p) for p in args.ports.split("-"))
        ports = list(range(lo, hi + 1))
    log_f = open(args.log, "a", buffering=1) if args.log else None
    counts = {"ok": 0, "timeout": 0, "refused": 0, "error": 0}
    listeners = {}
    retrans_total = 0
    deadline = time.monotonic() + args.max_seconds
    i = 0
    while time.monotonic() < deadline:
        if args.count and i >= args.count:
            break
        if args.until and os.path.exists(args.until):
            break
        port = ports[i % len(ports)] if ports else 0
        outcome, detail, retrans = tcp_loop_once(args, dst, port)
        if outcome == "busy":
            # our own previous socket on that port is not gone yet: a
            # client-side condition, not an outcome; try the port again
            time.sleep(0.01)
            continue
        i += 1
        counts[outcome] += 1
        retrans_total += retrans
        if outcome == "ok":
            listeners[detail] = listeners.get(detail, 0) + 1
            line = "ok listener=%s retrans=%d" % (detail, retrans)
        else:
            line = (outcome + " " + detail).strip()
        if log_f:
            log_f.write(line + "\n")
    if log_f:
        log_f.close()
    log("ok=%d timeout=%d refused=%d error=%d retrans=%d"
        % (counts["ok"], counts["timeout"], counts["refused"],
           counts["error"], retrans_total))
    for name in sorted(listeners):
        log("listener=%s %d" % (name, listeners[name]))
    bad = counts["timeout"] + counts["refused"] + counts["error"]
    return EXIT_OK if counts["ok"] and not bad else EXIT_ERR


def seq_handle(conn):
    try:
        conn.settimeout(60)
        log("accept local=%s peer=%s" % (fmt(conn.getsockname()),
                                         fmt(conn.getpeername())))
        want, gaps, buf = 0, 0, b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line != str(want).encode():
                    gaps += 1
                    want = int(line) if line.isdigit() else want
                want += 1
                if want % 100 == 0:
                    log("at %d" % want)
        end = "end lines=%d gaps=%d" % (want, gaps + (1 if buf else 0))
        log(end)
        conn.sendall((end + "\n").encode())
        conn.shutdown(socket.SHUT_WR)
    except OSError as e:
        log("error %s" % e)
    finally:
        conn.close()


def cmd_seq_server(args):
    s = socket.socket(family_of(args.bind), socket.SOCK_STREAM)
    v6only_off(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.bind, args.port[0]))
    s.listen(16)
    log("listening tcp " + fmt(s.getsockname()))
    while True:
        conn, _ = s.accept()
        threading.Thread(target=seq_handle, args=(conn,), daemon=True).start()


def cmd_seq_client(args):
    dst = parse_hostport(args.connect)
    s = socket.socket(family_of(dst[0]), socket.SOCK_STREAM)
    sent = 0
    try:
        s.settimeout(5)
        s.connect(dst)
        deadline = time.monotonic() + args.max_seconds
        while not os.path.exists(args.until):
            if time.monotonic() > deadline:
                log("sent=%d: --until never came" % sent)
                return EXIT_ERR
            s.sendall(b"%d\n" % sent)
            sent += 1
            time.sleep(args.interval)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        retrans = tcp_retrans(s)
    except OSError as e:
        log("sent=%d error %s" % (sent, e))
        return classify_error(e)
    finally:
        s.close()
    end = data.decode(errors="replace").strip()
    log("sent=%d retrans=%d" % (sent, retrans))
    log(end)
    return EXIT_OK if end == "end lines=%d gaps=0" % sent else EXIT_ERR


def cmd_syn_probe(args):
    dst = parse_hostport(args.connect)
    pending = []
    syns = connected = 0

    def settle(older_than):
        nonlocal connected
        now = time.monotonic()
        while pending and now - pending[0][1] >= older_than:
            s = pending.pop(0)[0]
            _, w, _ = select.select([], [s], [], 0)
            if w and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                connected += 1
            s.close()

    while not os.path.exists(args.until):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(dst)
        syns += 1
        pending.append((s, time.monotonic()))
        settle(0.2)
        time.sleep(args.interval)
    time.sleep(0.2)
    settle(0)
    log("syns=%d connected=%d" % (syns, connected))
    return EXIT_OK if syns and not connected else EXIT_ERR


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


# ------------------------------------------------------ raw ipv4 packets

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
PROTOS = {"icmp": 1, "tcp": 6, "udp": 17}
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10,
             "U": 0x20, "E": 0x40, "C": 0x80}


def inet_csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def proto_number(name):
    return PROTOS[name] if name in PROTOS else int(name, 0)


def tcp_flag_bits(spec):
    """"SA" -> SYN|ACK; "none" (or "") -> no flag at all."""
    if spec.lower() in ("", "none"):
        return 0
    bits = 0
    for ch in spec.upper():
        bits |= TCP_FLAGS[ch]
    return bits


def flag_names(bits):
    names = "".join(ch for ch, b in TCP_FLAGS.items() if bits & b)
    return names or "none"


def ipv4_header(src, dst, proto, payload_len, ident=0, frag=0, ttl=64,
                options=b"", ihl=None, version=4, tot_len=None):
    """An IPv4 header with a correct checksum over whatever it holds;
    ihl, version and tot_len may be set to anything."""
    options += b"\0" * (-len(options) % 4)
    hlen = 20 + len(options)
    ihl = hlen // 4 if ihl is None else ihl
    tot_len = hlen + payload_len if tot_len is None else tot_len
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 0xf), 0,
                    tot_len & 0xffff, ident, frag, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + options
    return h[:10] + struct.pack("!H", inet_csum(h)) + h[12:]


def l4_csum(src, dst, proto, segment):
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, proto, len(segment))
    return inet_csum(pseudo + segment)


def tcp_segment(src, dst, sport, dport, flags, seq=1000, ack=0, doff=5,
                payload=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff & 0xf) << 4,
                    flags, 64240, 0, 0)
    seg = h + payload
    c = l4_csum(src, dst, PROTOS["tcp"], seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp_datagram(src, dst, sport, dport, payload=b""):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = l4_csum(src, dst, PROTOS["udp"], seg) or 0xffff
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp_message(icmp_type, code, rest, body=b""):
    """rest: the 4 bytes after the checksum (echo id and sequence, or
    unused + next-hop MTU for fragmentation needed)."""
    m = struct.pack("!BBH", icmp_type, code, 0) + rest + body
    return m[:2] + struct.pack("!H", inet_csum(m)) + m[4:]


def quoted_packet(spec):
    """PROTO:SRC:SPORT:DST:DPORT -> the IPv4 header and first 8 bytes of
    the packet an ICMP error is about (for icmp, SPORT is the echo id)."""
    proto, src, sport, dst, dport = spec.split(":")
    pnum, sport, dport = proto_number(proto), int(sport), int(dport)
    if pnum == PROTOS["tcp"]:
        l4 = struct.pack("!HHI", sport, dport, 1000)
    elif pnum == PROTOS["udp"]:
        l4 = struct.pack("!HHHH", sport, dport, 8 + 32, 0)
    else:
        l4 = struct.pack("!BBHHH", 8, 0, 0, sport, 1)
    return ipv4_header(src, dst, pnum, 8 + 32, ident=0x4242,
                       frag=0x4000) + l4


def build_l4(args, pnum, flags):
    payload = bytes.fromhex(args.payload_hex) if args.payload_hex \
        else bytes(args.payload_len)
    if args.l4_hex is not None:
        return bytes.fromhex(args.l4_hex)
    if pnum == PROTOS["tcp"]:
        return tcp_segment(args.src, args.dst, args.sport, args.dport, flags,
                           seq=args.seq, ack=args.ack_seq, doff=args.doff,
                           payload=payload)
    if pnum == PROTOS["udp"]:
        return udp_datagram(args.src, args.dst, args.sport, args.dport,
                            payload)
    if pnum == PROTOS["icmp"]:
        body = quoted_packet(args.quote) if args.quote else payload
        rest = struct.pack("!HH", args.icmp_id, args.icmp_seq)
        return icmp_message(args.icmp_type, args.icmp_code, rest, body)
    return payload


def describe_reply(ip):
    ihl = (ip[0] & 0xf) * 4
    proto = ip[9]
    l4 = ip[ihl:]
    if proto == PROTOS["tcp"] and len(l4) >= 14:
        sport, dport = struct.unpack("!HH", l4[:4])
        return "reply tcp %d>%d flags=%s" % (sport, dport,
                                             flag_names(l4[13]))
    if proto == PROTOS["udp"] and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        return "reply udp %d>%d len=%d" % (sport, dport, len(l4) - 8)
    if proto == PROTOS["icmp"] and len(l4) >= 8:
        typ, code, _, ident, seq = struct.unpack("!BBHHH", l4[:8])
        return "reply icmp type=%d code=%d id=%d seq=%d" % (typ, code,
                                                            ident, seq)
    return "reply proto=%d" % proto


def cmd_raw_ip(args):
    mac = bytes(int(b, 16) for b in args.dst_mac.split(":"))
    pnum = proto_number(args.proto)
    frag = args.frag_off & 0x1fff
    if args.df:
        frag |= 0x4000
    if args.mf:
        frag |= 0x2000
    options = bytes.fromhex(args.options) if args.options else b""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                      socket.htons(ETH_P_ALL))
    s.bind((args.dev, ETH_P_ALL))
    src_mac = s.getsockname()[4][:6]
    tags = b""
    for tag in args.vlan:
        tpid, vid = tag.split(":")
        tags += struct.pack("!HH", int(tpid, 0), int(vid, 0))
    ethertype = int(args.ethertype, 0)
    sent = 0
    for i, spec in enumerate(args.flags or ["S"]):
        flags = tcp_flag_bits(spec)
        l4 = build_l4(args, pnum, flags)
        ip = ipv4_header(args.src, args.dst, pnum, len(l4),
                         ident=args.id + i, frag=frag, ttl=args.ttl,
                         options=options, ihl=args.ihl,
                         version=args.version, tot_len=args.tot_len) + l4
        if args.truncate is not None:
            ip = ip[:args.truncate]
        frame = mac + src_mac + tags + struct.pack("!H", ethertype) + ip
        for _ in range(args.count):
            s.send(frame)
            sent += 1
        if pnum == PROTOS["tcp"]:
            log("sent tcp %d>%d flags=%s len=%d"
                % (args.sport, args.dport, flag_names(flags), len(ip)))
        else:
            log("sent proto=%d len=%d" % (pnum, len(ip)))
    if args.wait <= 0:
        s.close()
        return EXIT_OK
    want_src = socket.inet_aton(args.dst)
    want_dst = socket.inet_aton(args.src)
    replies = 0
    deadline = time.monotonic() + args.wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            break
        data, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING or len(data) < 34 or \
                data[12:14] != b"\x08\x00":
            continue
        ip = data[14:]
        if ip[12:16] != want_src or ip[16:20] != want_dst:
            continue
        log(describe_reply(ip))
        replies += 1
        if args.first:
            break
    s.close()
    return EXIT_OK if replies else EXIT_TIMEOUT


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
            sp.add_argument("--sink", action="store_true",
                            help="read to EOF, answer received=N")
            sp.add_argument("--reuseport", action="store_true")
            sp.add_argument("--bulk", type=int, default=0,
                            help="send this many bytes to each client")
        if name == "udp-server":
            sp.add_argument("--silent", action="store_true",
                            help="log datagrams, never answer")

    sp = sub.add_parser("tcp-client")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--src")
    sp.add_argument("--timeout", type=float, default=5.0)
    sp.add_argument("--send")
    sp.add_argument("--reuseaddr", action="store_true")
    sp.add_argument("--send-size", type=int, default=0,
                    help="send this many bytes, then shut down writing")
    sp.add_argument("--ip-options", help="IP_OPTIONS bytes, in hex")
    sp.add_argument("--count-bytes", action="store_true",
                    help="print received=N instead of what came")

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

    sp = sub.add_parser("tcp-loop")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--count", type=int, default=0)
    sp.add_argument("--until", help="stop once this file exists")
    sp.add_argument("--src")
    sp.add_argument("--ports", help="cycle the source port, LO-HI")
    sp.add_argument("--timeout", type=float, default=5.0)
    sp.add_argument("--log")
    sp.add_argument("--max-seconds", type=float, default=60.0)

    sp = sub.add_parser("seq-server")
    sp.add_argument("--port", type=int, action="append", required=True)
    sp.add_argument("--bind", default="0.0.0.0")

    sp = sub.add_parser("seq-client")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--until", required=True,
                    help="stop sending once this file exists")
    sp.add_argument("--interval", type=float, default=0.005)
    sp.add_argument("--max-seconds", type=float, default=110.0)

    sp = sub.add_parser("syn-probe")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--until", required=True,
                    help="stop once this file exists")
    sp.add_argument("--interval", type=float, default=0.002)

    sp = sub.add_parser("raw-frame")
    sp.add_argument("--dev", required=True)
    sp.add_argument("--dst-mac", required=True)
    sp.add_argument("--ethertype", required=True)
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--payload-len", type=int, default=46)
    sp.add_argument("--payload-hex")

    sp = sub.add_parser("raw-ip")
    sp.add_argument("--dev", required=True)
    sp.add_argument("--dst-mac", required=True)
    sp.add_argument("--src", required=True)
    sp.add_argument("--dst", required=True)
    sp.add_argument("--ethertype", default="0x0800")
    sp.add_argument("--vlan", action="append", default=[],
                    metavar="TPID:VID", help="a tag before the ethertype, "
                    "outermost first (0x88a8:10, 0x8100:100)")
    sp.add_argument("--proto", default="tcp", help="tcp, udp, icmp or N")
    sp.add_argument("--id", type=lambda v: int(v, 0), default=0x1234,
                    help="IP id (the N-th --flags packet gets id+N)")
    sp.add_argument("--df", action="store_true")
    sp.add_argument("--mf", action="store_true")
    sp.add_argument("--frag-off", type=int, default=0,
                    help="fragment offset in 8-byte units")
    sp.add_argument("--ttl", type=int, default=64)
    sp.add_argument("--options", help="IP options in hex, padded to 4n")
    sp.add_argument("--ihl", type=int, help="override the header length")
    sp.add_argument("--version", type=int, default=4)
    sp.add_argument("--tot-len", type=int, help="override tot_len")
    sp.add_argument("--truncate", type=int,
                    help="cut the IP packet to this many bytes")
    sp.add_argument("--sport", type=int, default=40000)
    sp.add_argument("--dport", type=int, default=80)
    sp.add_argument("--flags", action="append",
                    help="TCP flags, e.g. S, SA, FSRPAU, none; repeat to "
                    "send one packet per value")
    sp.add_argument("--seq", type=int, default=1000)
    sp.add_argument("--ack-seq", type=int, default=0)
    sp.add_argument("--doff", type=int, default=5)
    sp.add_argument("--icmp-type", type=int, default=8)
    sp.add_argument("--icmp-code", type=int, default=0)
    sp.add_argument("--icmp-id", type=lambda v: int(v, 0), default=0x5c1)
    sp.add_argument("--icmp-seq", type=int, default=1,
                    help="or the next-hop MTU of fragmentation needed")
    sp.add_argument("--quote", metavar="PROTO:SRC:SPORT:DST:DPORT",
                    help="ICMP error body: the packet it is about")
    sp.add_argument("--payload-len", type=int, default=0)
    sp.add_argument("--payload-hex")
    sp.add_argument("--l4-hex", help="the bytes after the IP header, as is")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--wait", type=float, default=0,
                    help="then listen this long for packets dst -> src")
    sp.add_argument("--first", action="store_true",
                    help="stop listening at the first reply")

    args = p.parse_args()
    fn = {
        "tcp-server": cmd_tcp_server,
        "udp-server": cmd_udp_server,
        "udp-tproxy-server": cmd_udp_tproxy_server,
        "tcp-client": cmd_tcp_client,
        "udp-client": cmd_udp_client,
        "tcp-loop": cmd_tcp_loop,
        "seq-server": cmd_seq_server,
        "seq-client": cmd_seq_client,
        "syn-probe": cmd_syn_probe,
        "raw-frame": cmd_raw_frame,
        "raw-ip": cmd_raw_ip,
    }[args.cmd]
    try:
        return fn(args) or 0
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
