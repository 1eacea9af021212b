#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# relay.py HOST PORT - qemu user-network guestfwd helper: qemu runs it (guestfwd=...-cmd:)
# once per guest TCP connection with that connection on stdin/stdout, and it relays the
# bytes to HOST:PORT, which must be a loopback address (the target on this machine).
# Half-closes are passed on in both directions. stderr is the guest connection too, so
# this never prints: errors only end the relay.
import ipaddress
import os
import selectors
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not ipaddress.ip_address(host).is_loopback:
        return 2
    guest = socket.socket(fileno=os.dup(0))
    os.close(0)
    os.close(1)
    target = socket.create_connection((host, port))
    target.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = {guest: target, target: guest}
    sel = selectors.DefaultSelector()
    sel.register(guest, selectors.EVENT_READ)
    sel.register(target, selectors.EVENT_READ)
    open_dirs = 2
    while open_dirs:
        for key, _ in sel.select():
            src = key.fileobj
            data = src.recv(262144)
            if data:
                peer[src].sendall(data)
            else:
                sel.unregister(src)
                try:
                    peer[src].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                open_dirs -= 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError):
        sys.exit(1)
