#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy in front of an iSCSI portal that counts, from the PDUs on the wire, the SCSI
commands an initiator sent and what came back: the independent side of the statistics test
(tests/e2e/test-stats-counters.sh). Both directions are parsed as RFC 7143 PDUs (basic
header segment, AHS, data segment padded to 4 bytes); the target must run without header and
data digests (the test sets HeaderDigest and DataDigest None on it).

Counted:
  write_cmds / write_bytes  SCSI Command PDUs with the W bit, and their Expected Data
                            Transfer Length
  read_cmds                 SCSI Command PDUs with the R bit
  read_bytes                data segments of Data-In PDUs
  other_cmds                SCSI Command PDUs with neither bit
  errors                    SCSI Responses (or Data-In with the S bit) whose response or
                            status is not GOOD
  commands                  all SCSI Command PDUs

Usage: iscsi_count_proxy.py TARGET_HOST:PORT
Prints "port N" (where it listens on 127.0.0.1) once ready; when stdin ends it stops and
prints the counts as one JSON object (after the connections it forwarded have ended).
"""
import json
import socket
import sys
import threading

counts = {"write_cmds": 0, "write_bytes": 0, "read_cmds": 0, "read_bytes": 0,
          "other_cmds": 0, "errors": 0, "commands": 0}
lock = threading.Lock()
pumps = []  # the forwarding threads, joined before the counts are printed


def pdus(sock_in, sock_out, on_pdu):
    """Forwards sock_in to sock_out, calling on_pdu(bhs, data) for every whole PDU."""
    buf = b""
    while True:
        try:
            chunk = sock_in.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            try:
                sock_out.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        sock_out.sendall(chunk)
        buf += chunk
        while len(buf) >= 48:
            ahs = buf[4] * 4
            dsl = int.from_bytes(buf[5:8], "big")
            total = 48 + ahs + ((dsl + 3) & ~3)
            if len(buf) < total:
                break
            on_pdu(buf[:48], buf[48 + ahs:48 + ahs + dsl])
            buf = buf[total:]


def from_initiator(bhs, data):
    if bhs[0] & 0x3F != 0x01:  # SCSI Command
        return
    flags = bhs[1]
    edtl = int.from_bytes(bhs[20:24], "big")
    with lock:
        counts["commands"] += 1
        if flags & 0x20:
            counts["write_cmds"] += 1
            counts["write_bytes"] += edtl
        elif flags & 0x40:
            counts["read_cmds"] += 1
        else:
            counts["other_cmds"] += 1


def from_target(bhs, data):
    op = bhs[0] & 0x3F
    with lock:
        if op == 0x25:  # Data-In
            counts["read_bytes"] += len(data)
            if bhs[1] & 0x01 and bhs[3] != 0:  # S bit: the status came with the data
                counts["errors"] += 1
        elif op == 0x21:  # SCSI Response
            if bhs[2] != 0 or bhs[3] != 0:
                counts["errors"] += 1


def serve(listener, target):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(target)
        for a, b, f in ((client, upstream, from_initiator), (upstream, client, from_target)):
            t = threading.Thread(target=pdus, args=(a, b, f), daemon=True)
            t.start()
            with lock:
                pumps.append(t)


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print("port", listener.getsockname()[1], flush=True)
    threading.Thread(target=serve, args=(listener, (host, int(port))), daemon=True).start()
    sys.stdin.read()
    listener.close()
    # The initiator has logged out: its connections end, and their last PDUs are counted.
    with lock:
        threads = list(pumps)
    for t in threads:
        t.join(timeout=10)
    with lock:
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
