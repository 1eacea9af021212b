#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small iSCSI initiator for the e2e tests: logs in with a chosen CHAP algorithm (RFC 7143
12.1.3; hashes from Python's hashlib, which has SHA3-256), one-way or mutual, then optionally
sends INQUIRY to a LUN or SendTargets in a discovery session, and logs out.

It can also misbehave on purpose, to check the target refuses: send our own challenge back
(--reflect), a CHAP_R of the wrong length (--short-response), a base64 response (--base64),
CHAP keys out of order (--out-of-order), or skip the security stage (--skip-security).

With --hold it prints the JSON once logged in and stays logged in until stdin ends.

Prints one JSON object on stdout:
  {"status": "0x0000", "algorithm": 7, "mutual_verified": true, "inquiry": "...",
   "targets": [...], "error": "..."}
Exit status: 0 logged in (and the optional command worked), 1 the target refused the login
(status in the JSON), 2 anything else (protocol error, connection lost, bad CHAP_R from the
target in mutual CHAP).
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys

HASHES = {5: "md5", 6: "sha1", 7: "sha256", 8: "sha3_256"}
NAMES = {"MD5": 5, "SHA1": 6, "SHA-1": 6, "SHA256": 7, "SHA-256": 7, "SHA3-256": 8}


class Fail(Exception):
    pass


class Refused(Exception):
    def __init__(self, status):
        super().__init__("login refused with status 0x%04x" % status)
        self.status = status


def keys(pairs):
    return b"".join(("%s=%s" % kv).encode() + b"\0" for kv in pairs)


def parse_keys(data):
    out = {}
    for item in data.split(b"\0"):
        if not item:
            continue
        k, _, v = item.decode(errors="replace").partition("=")
        out[k] = v
    return out


def decode_binary(v):
    if v[:2] in ("0x", "0X"):
        h = v[2:]
        if len(h) % 2:
            h = "0" + h
        return bytes.fromhex(h)
    if v[:2] in ("0b", "0B"):
        return base64.b64decode(v[2:] + "=" * (-len(v[2:]) % 4))
    raise Fail("not a binary value: %r" % v)


def number(v):
    return int(v, 16) if v[:2] in ("0x", "0X") else int(v)


def chap(alg, ident, secret, challenge):
    return hashlib.new(HASHES[alg], bytes([ident]) + secret + challenge).digest()


class Conn:
    def __init__(self, host, port, source):
        self.s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.s.settimeout(20)
        if source:
            self.s.bind((source, 0))
        self.s.connect((host, port))
        self.itt = 1
        self.cmd_sn = 1
        self.exp_stat_sn = 0
        self.isid = bytes([0x80, 0x00, 0x00, 0x01]) + os.urandom(2)

    def send(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        self.s.sendall(bytes(bhs) + data + b"\0" * (-len(data) % 4))

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Fail("the target closed the connection")
            buf += chunk
        return buf

    def recv(self):
        bhs = self.recv_exact(48)
        ahs = bhs[4] * 4
        dlen = int.from_bytes(bhs[5:8], "big")
        if ahs:
            self.recv_exact(ahs)
        data = self.recv_exact(dlen + (-dlen % 4))[:dlen] if dlen else b""
        return bhs, data

    def header(self, opcode, flags, cmd_sn, new_itt=True):
        """A request BHS: opcode, flags, ITT (a new one unless new_itt is False), CmdSN,
        ExpStatSN."""
        bhs = bytearray(48)
        bhs[0] = opcode
        bhs[1] = flags
        if new_itt:
            self.itt += 1
        struct.pack_into(">I", bhs, 16, self.itt)
        struct.pack_into(">I", bhs, 24, cmd_sn)
        struct.pack_into(">I", bhs, 28, self.exp_stat_sn)
        return bhs

    def login(self, flags, pairs):
        bhs = self.header(0x43, flags, self.cmd_sn, new_itt=False)  # one ITT per login
        bhs[8:14] = self.isid
        self.send(bhs, keys(pairs))
        rbhs, data = self.recv()
        if rbhs[0] & 0x3F != 0x23:
            raise Fail("not a login response: opcode 0x%02x" % (rbhs[0] & 0x3F))
        status = rbhs[36] << 8 | rbhs[37]
        if status:
            raise Refused(status)
        self.exp_stat_sn = struct.unpack_from(">I", rbhs, 24)[0] + 1
        self.exp_cmd_sn = struct.unpack_from(">I", rbhs, 28)[0]
        return rbhs[1], parse_keys(data)

    def command(self, lun, cdb, edtl):
        bhs = self.header(0x01, 0x80 | 0x40 | 1, self.exp_cmd_sn)  # F, R, SIMPLE
        bhs[9] = lun
        struct.pack_into(">I", bhs, 20, edtl)
        bhs[32:32 + len(cdb)] = cdb
        self.send(bhs)
        data = b""
        while True:
            rbhs, d = self.recv()
            op = rbhs[0] & 0x3F
            if op == 0x25:  # Data-In
                data += d
                if rbhs[1] & 0x01:
                    status = rbhs[3]
                    break
            elif op == 0x21:  # SCSI Response
                status = rbhs[3]
                break
            elif op in (0x20, 0x32):  # NOP-In, Async Message: not ours
                continue
            else:
                raise Fail("unexpected opcode 0x%02x" % op)
        self.exp_stat_sn = struct.unpack_from(">I", rbhs, 24)[0] + 1
        return status, data

    def text(self, pairs):
        bhs = self.header(0x44, 0x80, self.exp_cmd_sn)
        struct.pack_into(">I", bhs, 20, 0xFFFFFFFF)
        self.send(bhs, keys(pairs))
        rbhs, data = self.recv()
        if rbhs[0] & 0x3F != 0x24:
            raise Fail("not a text response: opcode 0x%02x" % (rbhs[0] & 0x3F))
        self.exp_stat_sn = struct.unpack_from(">I", rbhs, 24)[0] + 1
        return [v for item in data.split(b"\0") if item
                for k, _, v in [item.decode().partition("=")] if k == "TargetName"]

    def logout(self):
        self.send(self.header(0x46, 0x80, self.exp_cmd_sn))
        rbhs, _ = self.recv()
        if rbhs[0] & 0x3F != 0x26 or rbhs[2] != 0:
            raise Fail("logout failed")


def algorithms(text):
    out = []
    for a in text.split(","):
        a = a.strip()
        out.append(NAMES[a.upper()] if a.upper() in NAMES else int(a))
    return out


def run(a, result):
    c = Conn(a.host, a.port, a.source)
    names = [("InitiatorName", a.initiator)]
    if a.discovery:
        names.append(("SessionType", "Discovery"))
    else:
        names += [("TargetName", a.target), ("SessionType", "Normal")]
    ops = [("HeaderDigest", "None"), ("DataDigest", "None"), ("MaxRecvDataSegmentLength", "65536"),
           ("ErrorRecoveryLevel", "0"), ("MaxConnections", "1")]
    if a.skip_security:
        flags, _ = c.login(0x87, names + ops)
    elif a.user is None:
        flags, ans = c.login(0x81, names + [("AuthMethod", "None")])
        flags, _ = c.login(0x87, ops)
    else:
        secret = a.secret.encode()
        flags, ans = c.login(0x81, names + [("AuthMethod", "CHAP")])
        if ans.get("AuthMethod") != "CHAP":
            raise Fail("the target chose AuthMethod=%s" % ans.get("AuthMethod"))
        if a.out_of_order:
            # CHAP_N/CHAP_R before the algorithm is agreed.
            c.login(0x81, [("CHAP_N", a.user), ("CHAP_R", "0x" + "00" * 16)])
            raise Fail("the target accepted CHAP_R before CHAP_A")
        flags, ans = c.login(0x01, [("CHAP_A", ",".join(str(x) for x in algorithms(a.algorithms)))])
        alg = number(ans["CHAP_A"])
        result["algorithm"] = alg
        ident = number(ans["CHAP_I"])
        challenge = decode_binary(ans["CHAP_C"])
        result["challenge_bytes"] = len(challenge)
        r = chap(alg, ident, secret, challenge)
        if a.short_response:
            r = r[:-1]
        value = "0b" + base64.b64encode(r).decode() if a.base64 else "0x" + r.hex()
        pairs = [("CHAP_N", a.user), ("CHAP_R", value)]
        mine = None
        if a.target_user is not None or a.reflect:
            my_id = os.urandom(1)[0]
            mine = challenge if a.reflect else os.urandom(a.challenge_bytes)
            pairs += [("CHAP_I", str(my_id)), ("CHAP_C", "0x" + mine.hex())]
        flags, ans = c.login(0x81, pairs)
        if mine is not None:
            want = chap(alg, my_id, (a.target_secret or "").encode(), mine)
            ok = ans.get("CHAP_N") == a.target_user and "CHAP_R" in ans and \
                decode_binary(ans["CHAP_R"]) == want
            result["mutual_verified"] = ok
            if not ok:
                raise Fail("the target's mutual CHAP answer does not check out (CHAP_N=%s)"
                           % ans.get("CHAP_N"))
        if not flags & 0x80:
            raise Fail("the target did not leave the security stage")
        flags, _ = c.login(0x87, ops)
    if (flags & 0x83) != 0x83:
        raise Fail("no full feature phase (flags 0x%02x)" % flags)
    result["status"] = "0x0000"
    if a.discovery:
        result["targets"] = c.text([("SendTargets", "All")])
    if a.inquiry is not None:
        status, data = c.command(a.inquiry, bytes([0x12, 0, 0, 0, 96, 0]), 96)
        if status != 0 or len(data) < 36:
            raise Fail("INQUIRY failed (status 0x%02x)" % status)
        result["inquiry"] = (data[8:16] + b" " + data[16:32]).decode(errors="replace").strip()
    if a.hold:
        print(json.dumps(result), flush=True)
        result["printed"] = True
        sys.stdin.read()  # logged in until stdin ends
    c.logout()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--source", help="bind to this local address first")
    p.add_argument("--initiator", default="iqn.2026-11.org.modtgt.test:pylogin")
    p.add_argument("--target", help="target IQN (normal session)")
    p.add_argument("--discovery", action="store_true", help="a discovery session (SendTargets)")
    p.add_argument("--user", help="CHAP user (none: AuthMethod=None)")
    p.add_argument("--secret", default="")
    p.add_argument("--algorithms", default="5", help="CHAP_A offer: 5,6,7,8 or MD5,SHA1,...")
    p.add_argument("--target-user", help="mutual CHAP: the target's expected user")
    p.add_argument("--target-secret")
    p.add_argument("--challenge-bytes", type=int, default=32)
    p.add_argument("--inquiry", type=int, metavar="LUN", help="INQUIRY this LUN once logged in")
    p.add_argument("--reflect", action="store_true", help="send the target's challenge back")
    p.add_argument("--short-response", action="store_true", help="CHAP_R one byte short")
    p.add_argument("--base64", action="store_true", help="CHAP_R in base64 (0b)")
    p.add_argument("--out-of-order", action="store_true", help="CHAP_N/CHAP_R before CHAP_A")
    p.add_argument("--skip-security", action="store_true", help="start in the operational stage")
    p.add_argument("--hold", action="store_true",
                   help="once logged in, print the result and stay logged in until stdin ends")
    a = p.parse_args()
    if not a.discovery and not a.target:
        p.error("--target or --discovery")
    result = {"status": None}
    rc = 0
    try:
        run(a, result)
    except Refused as e:
        result["status"] = "0x%04x" % e.status
        rc = 1
    except (Fail, OSError, KeyError, ValueError) as e:
        result["error"] = str(e)
        rc = 2
    if not result.pop("printed", False):
        print(json.dumps(result))
    return rc


if __name__ == "__main__":
    sys.exit(main())
