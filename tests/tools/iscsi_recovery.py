#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small iSCSI initiator for what libiscsi and open-iscsi do not do: several connections
per session (MC/S), ErrorRecoveryLevel 1 (SNACK, recovery R2T after a data digest error) and
ErrorRecoveryLevel 2 (connection recovery with TASK REASSIGN), full feature phase Text
keys, and data digests of large Data-In (zeros: a null LUN). Every block written is read back and compared.

Usage: iscsi_recovery.py --port P --target IQN --scenario mcs|erl1|erl2|text|zeros [--lun N]
Prints one line per step on stderr; exits 0 when every check passed, 1 with the failed
check otherwise. The LUN must be a writable disk of at least 4 MiB with 512-byte blocks.
"""
import argparse
import os
import socket
import struct
import sys

BLOCK = 512


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("ok: " + what, file=sys.stderr)


# ---- CRC32C (RFC 7143 12.1, Castagnoli, reflected 0x82F63B78) ----
_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return (c ^ 0xFFFFFFFF).to_bytes(4, "little")


def keys(pairs):
    return b"".join(("%s=%s" % kv).encode() + b"\0" for kv in pairs)


def parse_keys(data):
    out = []
    for item in data.split(b"\0"):
        if item:
            k, _, v = item.decode(errors="replace").partition("=")
            out.append((k, v))
    return out


def pattern(lba, count, tag):
    """Distinct bytes for each block: the LBA and a tag in every 8 bytes."""
    return b"".join((struct.pack(">II", lba + i, tag) * (BLOCK // 8)) for i in range(count))


def cdb_rw(op, lba, count):
    return struct.pack(">BBIBHB", op, 0, lba, 0, count, 0)  # READ(10) 0x28 / WRITE(10) 0x2a


class Session:
    """What the connections of one session share: the ISID, TSIH, CmdSN and ITTs."""

    def __init__(self, initiator, target):
        self.initiator = initiator
        self.target = target
        self.isid = bytes([0x80, 0x00, 0x00, 0x02]) + os.urandom(2)
        self.tsih = 0
        self.cmd_sn = 1
        self.itt = 0x100

    def new_itt(self):
        self.itt += 1
        return self.itt

    def next_cmd_sn(self):
        sn = self.cmd_sn
        self.cmd_sn += 1
        return sn


class Conn:
    def __init__(self, sess, port, cid, host="127.0.0.1"):
        self.sess = sess
        self.cid = cid
        self.s = socket.create_connection((host, port), timeout=20)
        self.exp_stat_sn = 0
        self.hd = self.dd = False
        self.max_xmit = 8192
        self.corrupt_next = False  # the next data segment goes out with a wrong digest

    # -- framing --
    def send(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytes(bhs)
        if self.hd:
            out += crc32c(bhs)
        if data:
            padded = data + b"\0" * (-len(data) % 4)
            out += padded
            if self.dd:
                d = crc32c(padded)
                if self.corrupt_next:
                    d = bytes([d[0] ^ 0xFF]) + d[1:]
                    self.corrupt_next = False
                out += d
        self.s.sendall(out)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Fail("cid %d: the target closed the connection" % self.cid)
            buf += chunk
        return buf

    def recv(self):
        while True:
            bhs = self.recv_exact(48)
            if bhs[4]:
                self.recv_exact(bhs[4] * 4)
            if self.hd:
                d = self.recv_exact(4)
                if d != crc32c(bhs):
                    raise Fail("bad header digest from the target")
            dlen = int.from_bytes(bhs[5:8], "big")
            data = b""
            if dlen:
                padded = self.recv_exact(dlen + (-dlen % 4))
                if self.dd and self.recv_exact(4) != crc32c(padded):
                    raise Fail("bad data digest from the target")
                data = padded[:dlen]
            op = bhs[0] & 0x3F
            if op == 0x20 and struct.unpack_from(">I", bhs, 20)[0] != 0xFFFFFFFF:
                # NOP-In ping from the target: answer it
                r = self.header(0x00, 0x80, 0xFFFFFFFF, self.sess.cmd_sn, immediate=True)
                r[20:24] = bhs[20:24]
                self.send(r)
                continue
            if op == 0x32:
                continue
            if op in (0x21, 0x22, 0x23, 0x24, 0x26, 0x3F) or (op == 0x25 and bhs[1] & 1):
                self.exp_stat_sn = max(self.exp_stat_sn, struct.unpack_from(">I", bhs, 24)[0] + 1)
            return bhs, data

    def header(self, opcode, flags, itt, cmd_sn, immediate=False):
        bhs = bytearray(48)
        bhs[0] = opcode | (0x40 if immediate else 0)
        bhs[1] = flags
        struct.pack_into(">I", bhs, 16, itt)
        struct.pack_into(">I", bhs, 24, cmd_sn)
        struct.pack_into(">I", bhs, 28, self.exp_stat_sn)
        return bhs

    # -- login --
    def login(self, ops, expect_status=0):
        sess = self.sess
        pairs = [("InitiatorName", sess.initiator), ("TargetName", sess.target),
                 ("SessionType", "Normal"), ("AuthMethod", "None")]
        itt = sess.new_itt()
        bhs = self.header(0x03, 0x81, itt, sess.cmd_sn, immediate=True)  # T, CSG 0 -> NSG 1
        bhs[2] = bhs[3] = 0
        bhs[8:14] = sess.isid
        struct.pack_into(">H", bhs, 14, sess.tsih)
        struct.pack_into(">H", bhs, 20, self.cid)
        self.send(bhs, keys(pairs))
        rbhs, _ = self.recv()
        status = rbhs[36] << 8 | rbhs[37]
        if status:
            if status == expect_status:
                return None
            raise Fail("login refused with 0x%04x" % status)
        bhs = self.header(0x03, 0x87, itt, sess.cmd_sn, immediate=True)  # T, CSG 1 -> NSG 3
        bhs[8:14] = sess.isid
        struct.pack_into(">H", bhs, 14, sess.tsih)
        struct.pack_into(">H", bhs, 20, self.cid)
        self.send(bhs, keys(ops))
        rbhs, data = self.recv()
        status = rbhs[36] << 8 | rbhs[37]
        if status:
            if status == expect_status:
                return None
            raise Fail("login refused with 0x%04x" % status)
        if expect_status:
            raise Fail("login succeeded; expected status 0x%04x" % expect_status)
        answer = dict(parse_keys(data))
        sess.tsih = struct.unpack_from(">H", rbhs, 14)[0]
        self.hd = answer.get("HeaderDigest") == "CRC32C"
        self.dd = answer.get("DataDigest") == "CRC32C"
        return answer

    def close_hard(self):
        """Kills the connection as a crash would (RST, no FIN handshake)."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()

    # -- commands --
    def scsi(self, cdb, read_len=0, write_len=0, immediate=b""):
        """Sends a SCSI Command; returns its ITT."""
        itt = self.sess.new_itt()
        flags = 0x80 | (0x40 if read_len else 0) | (0x20 if write_len else 0) | 1
        bhs = self.header(0x01, flags, itt, self.sess.next_cmd_sn())
        struct.pack_into(">I", bhs, 20, read_len or write_len)
        bhs[32:32 + len(cdb)] = cdb
        self.send(bhs, immediate)
        return itt

    def data_out(self, itt, ttt, offset, data, data_sn, final):
        bhs = self.header(0x05, 0x80 if final else 0, itt, 0)
        struct.pack_into(">I", bhs, 20, ttt)
        struct.pack_into(">I", bhs, 24, 0)
        struct.pack_into(">I", bhs, 36, data_sn)
        struct.pack_into(">I", bhs, 40, offset)
        self.send(bhs, data)

    def answer_r2t(self, r2t, buf, corrupt_pdu=-1, seg=4096):
        """Sends the Data-Out an R2T asks for, in seg-byte PDUs; PDU number corrupt_pdu goes
        with a wrong data digest."""
        itt = struct.unpack_from(">I", r2t, 16)[0]
        ttt = struct.unpack_from(">I", r2t, 20)[0]
        off = struct.unpack_from(">I", r2t, 40)[0]
        length = struct.unpack_from(">I", r2t, 44)[0]
        sn = 0
        pos = 0
        while pos < length:
            n = min(seg, length - pos)
            if sn == corrupt_pdu:
                self.corrupt_next = True
            self.data_out(itt, ttt, off + pos, buf[off + pos:off + pos + n], sn, pos + n == length)
            pos += n
            sn += 1
        return off, length

    def collect(self, itt, buf=None, want_write=None):
        """Reads PDUs for task itt until its status; answers R2Ts from want_write (the whole
        write buffer). Returns (status, data by offset dict, list of R2T offsets, last bhs)."""
        r2ts = []
        data = {}
        while True:
            bhs, d = self.recv()
            op = bhs[0] & 0x3F
            if struct.unpack_from(">I", bhs, 16)[0] != itt and op != 0x3F:
                raise Fail("a PDU for ITT 0x%x while waiting for 0x%x (opcode 0x%02x)" %
                           (struct.unpack_from(">I", bhs, 16)[0], itt, op))
            if op == 0x31:  # R2T
                r2ts.append(struct.unpack_from(">II", bhs, 40))
                self.answer_r2t(bhs, want_write)
            elif op == 0x25:
                data[struct.unpack_from(">I", bhs, 40)[0]] = d
                if bhs[1] & 1:
                    return bhs[3], data, r2ts, bhs
            elif op == 0x21:
                return bhs[3], data, r2ts, bhs
            else:
                raise Fail("unexpected opcode 0x%02x" % op)

    def clear_ua(self):
        """TEST UNIT READY until GOOD: a new I_T nexus first gets its unit attention."""
        for _ in range(4):
            itt = self.scsi(bytes(6))
            status, _, _, _ = self.collect(itt)
            if status == 0:
                return
        raise Fail("TEST UNIT READY never GOOD")

    def write(self, lba, buf):
        itt = self.scsi(cdb_rw(0x2A, lba, len(buf) // BLOCK), write_len=len(buf))
        status, _, _, bhs = self.collect(itt, want_write=buf)
        check(status == 0, "cid %d: WRITE(10) of %d blocks at %d is GOOD (status 0x%02x, %r)" %
              (self.cid, len(buf) // BLOCK, lba, status, bytes(bhs[:4])))

    def read(self, lba, count):
        itt = self.scsi(cdb_rw(0x28, lba, count), read_len=count * BLOCK)
        status, data, _, _ = self.collect(itt)
        if status != 0:
            raise Fail("READ(10) status 0x%02x" % status)
        return b"".join(data[k] for k in sorted(data))

    def verify(self, lba, count, tag):
        got = self.read(lba, count)
        check(got == pattern(lba, count, tag),
              "cid %d: %d blocks at LBA %d read back as written" % (self.cid, count, lba))

    def logout(self, reason=0, cid=None):
        bhs = self.header(0x06, 0x80 | reason, self.sess.new_itt(), self.sess.next_cmd_sn())
        struct.pack_into(">H", bhs, 20, self.cid if cid is None else cid)
        self.send(bhs)
        rbhs, _ = self.recv()
        if rbhs[0] & 0x3F != 0x26:
            raise Fail("not a Logout Response: opcode 0x%02x" % (rbhs[0] & 0x3F))
        return rbhs[2], struct.unpack_from(">HH", rbhs, 40)

    def tmf(self, function, ref_itt=0xFFFFFFFF, exp_data_sn=0):
        itt = self.sess.new_itt()
        bhs = self.header(0x02, 0x80 | function, itt, self.sess.cmd_sn, immediate=True)
        struct.pack_into(">I", bhs, 20, ref_itt)
        struct.pack_into(">I", bhs, 36, exp_data_sn)
        self.send(bhs)
        rbhs, _ = self.recv()
        if rbhs[0] & 0x3F != 0x22:
            raise Fail("not a TMF Response: opcode 0x%02x" % (rbhs[0] & 0x3F))
        return rbhs[2]

    def snack(self, snack_type, itt, beg, run):
        bhs = self.header(0x10, 0x80 | snack_type, itt, 0)
        struct.pack_into(">I", bhs, 20, 0xFFFFFFFF)
        struct.pack_into(">I", bhs, 24, 0)
        struct.pack_into(">II", bhs, 40, beg, run)
        self.send(bhs)

    def text(self, pairs, ttt=0xFFFFFFFF, itt=None):
        itt = itt or self.sess.new_itt()
        bhs = self.header(0x04, 0x80, itt, self.sess.cmd_sn, immediate=True)
        struct.pack_into(">I", bhs, 20, ttt)
        self.send(bhs, keys(pairs))
        rbhs, data = self.recv()
        if rbhs[0] & 0x3F != 0x24:
            raise Fail("not a Text Response: opcode 0x%02x" % (rbhs[0] & 0x3F))
        return rbhs, data


def base_ops(erl, max_conns, digests=False):
    d = "CRC32C" if digests else "None"
    return [("HeaderDigest", d), ("DataDigest", d), ("ErrorRecoveryLevel", str(erl)),
            ("MaxConnections", str(max_conns)), ("InitialR2T", "Yes"),
            ("ImmediateData", "No"), ("MaxRecvDataSegmentLength", "8192"),
            ("MaxBurstLength", "65536"), ("FirstBurstLength", "65536"),
            ("MaxOutstandingR2T", "1")]


def scenario_mcs(a):
    sess = Session(a.initiator, a.target)
    c0 = Conn(sess, a.port, 0)
    ans = c0.login(base_ops(0, 2))
    check(ans.get("MaxConnections") == "2", "leading login: MaxConnections=2 negotiated")
    check(sess.tsih != 0, "leading login: TSIH %d" % sess.tsih)
    c0.clear_ua()
    c1 = Conn(sess, a.port, 1)
    ans = c1.login(base_ops(0, 2))
    check(ans.get("MaxConnections") == "Irrelevant", "second connection joins by TSIH")
    c2 = Conn(sess, a.port, 2)
    check(c2.login(base_ops(0, 2), expect_status=0x0206) is None,
          "a third connection is refused with Too Many Connections")
    # Writes on one connection, reads on the other, several commands in flight at once:
    # CmdSN is the session's, each task answers on its own connection (allegiance).
    for i in range(8):
        conn = (c0, c1)[i % 2]
        conn.write(i * 64, pattern(i * 64, 64, 1))
    itts = [(c0 if i % 2 else c1).scsi(cdb_rw(0x28, i * 64, 64), read_len=64 * BLOCK)
            for i in range(8)]
    for i, itt in enumerate(itts):
        conn = c0 if i % 2 else c1
        status, data, _, _ = conn.collect(itt)
        got = b"".join(data[k] for k in sorted(data))
        check(status == 0 and got == pattern(i * 64, 64, 1),
              "cid %d: read of blocks %d..%d in flight with others matches" %
              (conn.cid, i * 64, i * 64 + 63))
    # Logout of one connection ("close the connection", reason 1) sent on the other.
    resp, _ = c0.logout(reason=1, cid=1)
    check(resp == 0, "logout of cid 1 from cid 0 succeeds")
    try:
        c1.recv()
        raise Fail("cid 1 still open after its logout")
    except (Fail, OSError) as e:
        check("closed" in str(e) or isinstance(e, OSError), "cid 1 was closed by the target")
    c0.write(1024, pattern(1024, 128, 2))
    c0.verify(1024, 128, 2)
    c0.verify(0, 64, 1)
    # A new connection may join again in place of the one logged out.
    c3 = Conn(sess, a.port, 3)
    c3.login(base_ops(0, 2))
    c3.verify(64, 64, 1)
    resp, _ = c3.logout(reason=0)
    check(resp == 0, "logout of the session")


def scenario_erl1(a):
    sess = Session(a.initiator, a.target)
    c = Conn(sess, a.port, 0)
    ans = c.login(base_ops(1, 1, digests=True))
    check(ans.get("ErrorRecoveryLevel") == "1" and ans.get("DataDigest") == "CRC32C",
          "ErrorRecoveryLevel=1 with data digests negotiated")
    c.clear_ua()
    # 1. A Data-Out with a wrong data digest: discarded, asked for again by a recovery R2T.
    lba, count = 200, 64
    buf = pattern(lba, count, 3)
    itt = c.scsi(cdb_rw(0x2A, lba, count), write_len=len(buf))
    bhs, _ = c.recv()
    check(bhs[0] & 0x3F == 0x31, "the write gets an R2T")
    c.answer_r2t(bhs, buf, corrupt_pdu=2)  # bytes 8192..12287 go with a bad digest
    bhs, _ = c.recv()
    check(bhs[0] & 0x3F == 0x31 and struct.unpack_from(">II", bhs, 40) == (8192, 4096),
          "a recovery R2T asks for exactly the PDU with the bad digest (offset 8192, 4096 bytes)")
    c.answer_r2t(bhs, buf)
    bhs, _ = c.recv()
    check(bhs[0] & 0x3F == 0x21 and bhs[3] == 0, "the write completes GOOD after recovery")
    c.verify(lba, count, 3)
    # 2. Data SNACK: a Data-In "lost" is sent again.
    itt = c.scsi(cdb_rw(0x28, lba, count), read_len=count * BLOCK)
    pdus = {}
    status_bhs = None
    while status_bhs is None:
        bhs, d = c.recv()
        sn = struct.unpack_from(">I", bhs, 36)[0]
        if sn != 1:  # pretend DataSN 1 never arrived
            pdus[struct.unpack_from(">I", bhs, 40)[0]] = d
        if bhs[1] & 1:
            status_bhs = bhs
    # The status came but data is missing: not acknowledged (RFC 7143 6.7).
    c.exp_stat_sn = struct.unpack_from(">I", status_bhs, 24)[0]
    c.snack(0, itt, 1, 1)
    bhs, d = c.recv()
    check(bhs[0] & 0x3F == 0x25 and struct.unpack_from(">I", bhs, 36)[0] == 1,
          "Data SNACK: DataSN 1 sent again")
    pdus[struct.unpack_from(">I", bhs, 40)[0]] = d
    got = b"".join(pdus[k] for k in sorted(pdus))
    check(got == buf, "the read with the retransmitted Data-In matches what was written")
    # 3. Status SNACK: a response not acknowledged yet is sent again with its StatSN.
    itt = c.scsi(bytes(6), 0)  # TEST UNIT READY
    bhs, _ = c.recv()
    stat_sn = struct.unpack_from(">I", bhs, 24)[0]
    c.exp_stat_sn = stat_sn  # not acknowledged
    c.snack(1, 0xFFFFFFFF, stat_sn, 1)
    bhs2, _ = c.recv()
    check(bhs2[0] & 0x3F == 0x21 and struct.unpack_from(">I", bhs2, 24)[0] == stat_sn and
          struct.unpack_from(">I", bhs2, 16)[0] == itt, "Status SNACK: the response again")
    c.exp_stat_sn = stat_sn + 1
    # 4. R-Data SNACK: the whole read again, cut to the current MaxRecvDataSegmentLength.
    itt = c.scsi(cdb_rw(0x28, lba, count), read_len=count * BLOCK)
    status, _, _, status_bhs = c.collect(itt)
    c.exp_stat_sn = struct.unpack_from(">I", status_bhs, 24)[0]
    c.snack(3, itt, 0, 0)
    status, data, _, _ = c.collect(itt)
    check(status == 0 and b"".join(data[k] for k in sorted(data)) == buf,
          "R-Data SNACK: every Data-In again, the data intact")
    # 5. R2T SNACK: an R2T "lost" is sent again, unchanged.
    itt = c.scsi(cdb_rw(0x2A, 300, 16), write_len=16 * BLOCK)
    r2t, _ = c.recv()
    c.snack(0, itt, 0, 1)
    again, _ = c.recv()
    check(again[0] & 0x3F == 0x31 and again[20:48] == r2t[20:48] and
          struct.unpack_from(">I", again, 36)[0] == 0, "R2T SNACK: R2TSN 0 again")
    c.answer_r2t(again, pattern(300, 16, 4))
    bhs, _ = c.recv()
    check(bhs[0] & 0x3F == 0x21 and bhs[3] == 0, "the write completes GOOD")
    c.verify(300, 16, 4)
    resp, _ = c.logout()
    check(resp == 0, "logout")

    # 6. Immediate data with a wrong data digest: the command is rejected without taking its
    # CmdSN and the initiator retries it (same ITT and CmdSN).
    sess = Session(a.initiator, a.target)
    c = Conn(sess, a.port, 0)
    ops = [kv for kv in base_ops(1, 1, digests=True) if kv[0] not in ("ImmediateData", "InitialR2T")]
    c.login(ops + [("ImmediateData", "Yes"), ("InitialR2T", "Yes")])
    c.clear_ua()
    buf = pattern(900, 8, 8)
    itt = sess.new_itt()
    cmd_sn = sess.next_cmd_sn()
    cmd = c.header(0x01, 0x80 | 0x20 | 1, itt, cmd_sn)
    struct.pack_into(">I", cmd, 20, len(buf))
    cmd[32:42] = cdb_rw(0x2A, 900, 8)
    c.corrupt_next = True
    c.send(cmd, buf)
    bhs, data = c.recv()
    check(bhs[0] & 0x3F == 0x3F and bhs[2] == 0x02 and data[16:20] == cmd[16:20],
          "a SCSI Command with bad immediate data: Reject, Data-Digest-Error")
    c.send(cmd, buf)  # the retry
    bhs, _ = c.recv()
    check(bhs[0] & 0x3F == 0x21 and bhs[3] == 0 and struct.unpack_from(">I", bhs, 16)[0] == itt,
          "the retried command (same ITT and CmdSN) completes GOOD")
    c.verify(900, 8, 8)
    resp, _ = c.logout()
    check(resp == 0, "logout")


def scenario_erl2(a):
    sess = Session(a.initiator, a.target)
    c0 = Conn(sess, a.port, 0)
    ans = c0.login(base_ops(2, 3))
    check(ans.get("ErrorRecoveryLevel") == "2", "ErrorRecoveryLevel=2 negotiated")
    c0.clear_ua()
    c1 = Conn(sess, a.port, 1)
    c1.login(base_ops(2, 3))
    c0.write(400, pattern(400, 64, 5))
    # On cid 1: a write that gets only half of its data, and a read whose Data-In is not
    # read; then the connection dies.
    wlba, wcount = 500, 128
    wbuf = pattern(wlba, wcount, 6)
    witt = c1.scsi(cdb_rw(0x2A, wlba, wcount), write_len=len(wbuf))
    bhs, _ = c1.recv()
    check(bhs[0] & 0x3F == 0x31, "cid 1: the write gets an R2T")
    off, length = struct.unpack_from(">II", bhs, 40)
    ttt = struct.unpack_from(">I", bhs, 20)[0]
    c1.data_out(witt, ttt, off, wbuf[off:off + 8192], 0, False)
    c1.data_out(witt, ttt, off + 8192, wbuf[off + 8192:off + 16384], 1, False)
    ritt = c1.scsi(cdb_rw(0x28, 400, 64), read_len=64 * BLOCK)
    bhs, _ = c1.recv()  # the target has had everything sent so far: the read answers
    check(bhs[0] & 0x3F == 0x25 and struct.unpack_from(">I", bhs, 16)[0] == ritt,
          "cid 1: the read's first Data-In arrives")
    # The rest of the read's response is in flight; the write waits for data. Kill cid 1.
    c1.close_hard()
    # Logout for recovery (reason 2) of cid 1, on cid 0: the target lets go of the dead
    # connection (or has already: CID not found) and keeps its tasks.
    resp, (t2w, t2r) = c0.logout(reason=2, cid=1)
    check(resp in (0, 1), "logout for recovery of cid 1 answered (%d, Time2Retain %d)" %
          (resp, t2r))
    # A new connection takes the tasks over (TASK REASSIGN, function 8).
    c2 = Conn(sess, a.port, 2)
    c2.login(base_ops(2, 3))
    r = c2.tmf(8, witt)
    check(r == 0, "TASK REASSIGN of the write to cid 2 (response %d)" % r)
    # The target asks again for the data it did not get.
    status, _, r2ts, _ = c2.collect(witt, want_write=wbuf)
    check(status == 0 and r2ts and r2ts[0][0] == off + 16384,
          "the reassigned write asks for the rest (from offset %d) and completes GOOD" %
          (off + 16384))
    check(c2.tmf(8, ritt, 0) == 0, "TASK REASSIGN of the read to cid 2")
    status, data, _, _ = c2.collect(ritt)
    got = b"".join(data[k] for k in sorted(data))
    check(status == 0 and got == pattern(400, 64, 5), "the reassigned read's data arrive on cid 2")
    check(c2.tmf(8, 0x7777) == 1, "TASK REASSIGN of an unknown task: Task does not exist")
    c0.verify(wlba, wcount, 6)
    c2.verify(400, 64, 5)
    resp, _ = c2.logout(reason=0)
    check(resp == 0, "logout of the session")

    # A session's only connection dies: the session waits for a new connection (same TSIH
    # and CID), which takes the half-done write over.
    sess = Session(a.initiator, a.target)
    d0 = Conn(sess, a.port, 0)
    d0.login(base_ops(2, 1))
    d0.clear_ua()
    wlba, wcount = 700, 64
    wbuf = pattern(wlba, wcount, 7)
    witt = d0.scsi(cdb_rw(0x2A, wlba, wcount), write_len=len(wbuf))
    bhs, _ = d0.recv()
    check(bhs[0] & 0x3F == 0x31, "single connection: the write gets an R2T")
    ttt = struct.unpack_from(">I", bhs, 20)[0]
    d0.data_out(witt, ttt, 0, wbuf[:4096], 0, False)
    d0.scsi(bytes(6))  # a TEST UNIT READY after it: the Data-Out was taken when it answers
    bhs, _ = d0.recv()
    check(bhs[0] & 0x3F == 0x21, "single connection: TEST UNIT READY answered")
    d0.close_hard()
    d1 = Conn(sess, a.port, 0)
    d1.login(base_ops(2, 1))
    check(True, "a new connection joins the session whose only connection died (TSIH %d)" %
          sess.tsih)
    r = d1.tmf(8, witt)
    check(r == 0, "TASK REASSIGN of the write to the new connection (response %d)" % r)
    status, _, r2ts, _ = d1.collect(witt, want_write=wbuf)
    check(status == 0 and r2ts and r2ts[0][0] == 4096,
          "the write asks for the rest (from offset 4096) and completes GOOD")
    d1.verify(wlba, wcount, 7)
    resp, _ = d1.logout(reason=0)
    check(resp == 0, "logout of the recovered session")


def scenario_text(a):
    sess = Session(a.initiator, a.target)
    c = Conn(sess, a.port, 0)
    c.login(base_ops(0, 1))
    _, data = c.text([("X-org.example.Unknown", "1"), ("MaxBurstLength", "4096"),
                      ("SendTargets", "not a name!"), ("SendTargets", "")])
    kv = parse_keys(data)
    check(("X-org.example.Unknown", "NotUnderstood") in kv, "unknown key: NotUnderstood")
    check(("MaxBurstLength", "Reject") in kv, "login-only key in full feature phase: Reject")
    check(("SendTargets", "Reject") in kv, "SendTargets with a bad value: Reject")
    check(("TargetName", a.target) in kv, "SendTargets= lists the session's target")
    # A long answer in pieces: MaxRecvDataSegmentLength 512, then 600 keys.
    _, data = c.text([("MaxRecvDataSegmentLength", "512")])
    check(data == b"", "MaxRecvDataSegmentLength is declared without an answer")
    many = [("X-k%03d" % i, "v") for i in range(40)]
    itt = sess.new_itt()
    bhs, data = c.text(many, itt=itt)
    pieces = 1
    got = data
    while bhs[1] & 0x40:  # C: more
        check(len(data) <= 512, "piece within the declared 512 bytes")
        bhs, data = c.text([], ttt=struct.unpack_from(">I", bhs, 20)[0], itt=itt)
        got += data
        pieces += 1
    check(pieces > 1 and len(parse_keys(got)) == 40,
          "a long answer comes in %d pieces, every key answered" % pieces)
    resp, _ = c.logout()
    check(resp == 0, "logout")


def scenario_zeros(a):
    """A LUN that reads as zeros (bs_null) with header and data digests, segments up to
    512 KiB (larger than the target's 256 KiB zero buffer): every Data-In is zeros and
    passes its CRC32C data digest (recv checks each)."""
    sess = Session(a.initiator, a.target)
    c = Conn(sess, a.port, 0)
    ops = [kv for kv in base_ops(0, 1, digests=True)
           if kv[0] not in ("MaxRecvDataSegmentLength", "MaxBurstLength")]
    c.login(ops + [("MaxRecvDataSegmentLength", "524288"), ("MaxBurstLength", "1048576")])
    check(c.hd and c.dd, "header and data digests CRC32C negotiated")
    c.clear_ua()
    for lba, count in ((0, 1), (7, 3), (100, 64), (4096, 2048)):
        got = c.read(lba, count)
        check(got == bytes(count * BLOCK),
              "%d blocks at LBA %d read as zeros with good data digests" % (count, lba))
    resp, _ = c.logout()
    check(resp == 0, "logout")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--initiator", default="iqn.2026-12.org.modtgt.test:recovery")
    p.add_argument("--scenario", choices=["mcs", "erl1", "erl2", "text", "zeros"],
                   required=True)
    a = p.parse_args()
    try:
        globals()["scenario_" + a.scenario](a)
    except (Fail, OSError) as e:
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    print("all checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
