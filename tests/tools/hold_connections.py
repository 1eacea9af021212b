#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Opens N TCP connections to HOST:PORT (from --source, e.g. 127.0.0.2) that never send a
byte (or, with --garbage, send random bytes), and holds them: a flood of connections that
never log in, for the e2e limit tests. With --unix PATH the connections go to that Unix
socket instead (idle admin clients).

Prints "opened N" once every connect() has returned, then answers each line read from
stdin: "count" prints "open K" (connections the target has not closed yet); "refill" opens
new connections for the ones the target closed and prints "open N" (e.g. for a server that
drops idle clients after a while); "quit" or the end of stdin closes everything and exits. Raises its own open-files limit as needed.
"""
import argparse
import os
import resource
import select
import socket
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--unix", metavar="PATH", help="connect to this Unix socket instead")
    p.add_argument("--source")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--garbage", type=int, default=0, metavar="BYTES",
                   help="send this many random bytes on each connection")
    a = p.parse_args()
    if (a.port is None) == (a.unix is None):
        p.error("give --port or --unix")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    def connect():
        if a.unix:
            s = socket.socket(socket.AF_UNIX)
            s.connect(a.unix)
        else:
            s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET)
            if a.source:
                s.bind((a.source, 0))
            s.connect((a.host, a.port))
        if a.garbage:
            try:
                s.sendall(os.urandom(a.garbage))
            except OSError:
                pass  # the target may already have closed it
        s.setblocking(False)
        return s

    conns = [connect() for _ in range(a.n)]
    print("opened %d" % len(conns), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd in ("count", "refill"):
            alive = []
            for s in conns:
                r, _, _ = select.select([s], [], [], 0)
                closed = False
                if r:
                    try:
                        while True:
                            b = s.recv(65536)
                            if not b:
                                closed = True
                                break
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    s.close()
                else:
                    alive.append(s)
            conns = alive
            if cmd == "refill":
                conns += [connect() for _ in range(a.n - len(conns))]
            print("open %d" % len(conns), flush=True)
        elif cmd == "quit":
            break
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
