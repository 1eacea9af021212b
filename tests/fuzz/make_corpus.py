#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpus in tests/fuzz/corpus/ (small, hand-made, committed).
# Login inputs: one option byte (see login_fuzz.cc), then Login Request PDUs as on the
# wire (48-byte BHS + data). Params inputs: raw text segments.
import base64
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = "iqn.2024-01.org.modtgt:disk1"
INITIATOR = "iqn.2024-01.org.example:host1"


def text(*pairs):
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def login_pdu(t, c, csg, nsg, data, tsih=0, itt=1, vmax=0, vmin=0, opcode=0x43):
    flags = (0x80 if t else 0) | (0x40 if c else 0) | (csg << 2) | nsg
    bhs = bytearray(48)
    bhs[0] = opcode
    bhs[1] = flags
    bhs[2] = vmax
    bhs[3] = vmin
    bhs[5:8] = len(data).to_bytes(3, "big")
    bhs[8:14] = bytes([0x80, 0x12, 0x34, 0x56, 0x00, 0x01])
    struct.pack_into(">H", bhs, 14, tsih)
    struct.pack_into(">I", bhs, 16, itt)
    struct.pack_into(">H", bhs, 20, 1)
    struct.pack_into(">I", bhs, 24, 1)
    return bytes(bhs) + data


NAMES = [("InitiatorName", INITIATOR), ("TargetName", TARGET), ("SessionType", "Normal")]
OPS = [("HeaderDigest", "CRC32C,None"), ("DataDigest", "None"), ("MaxConnections", "1"),
       ("InitialR2T", "No"), ("ImmediateData", "Yes"), ("MaxRecvDataSegmentLength", "262144"),
       ("MaxBurstLength", "1048576"), ("FirstBurstLength", "262144"),
       ("DefaultTime2Wait", "2"), ("DefaultTime2Retain", "0"), ("MaxOutstandingR2T", "1"),
       ("DataPDUInOrder", "Yes"), ("DataSequenceInOrder", "Yes"), ("ErrorRecoveryLevel", "0"),
       ("IFMarker", "No"), ("OFMarker", "No")]

login = {
    "normal_two_stage": bytes([0]) +
        login_pdu(1, 0, 0, 1, text(*NAMES, ("AuthMethod", "CHAP,None"))) +
        login_pdu(1, 0, 1, 3, text(*NAMES, *OPS), itt=2),
    "normal_opneg_only": bytes([2]) + login_pdu(1, 0, 1, 3, text(*NAMES, *OPS)),
    "discovery": bytes([0]) +
        login_pdu(1, 0, 0, 1, text(("InitiatorName", INITIATOR), ("SessionType", "Discovery"),
                                   ("AuthMethod", "None"))) +
        login_pdu(1, 0, 1, 3, text(("MaxRecvDataSegmentLength", "32768"))),
    "continue_bit": bytes([0]) +
        login_pdu(0, 1, 1, 0, text(*NAMES)[:20]) +
        login_pdu(0, 1, 1, 0, text(*NAMES)[20:]) +
        login_pdu(1, 0, 1, 3, text(*OPS)),
    "unknown_keys": bytes([0]) +
        login_pdu(1, 0, 1, 3, text(*NAMES, ("X-com.example.k", "v"), ("TaskReporting", "RFC3720"),
                                   ("iSCSIProtocolLevel", "1"), ("OFMarkInt", "1~2"))),
    "bad_version": bytes([0]) + login_pdu(1, 0, 0, 1, text(*NAMES), vmax=2, vmin=1),
    "non_leading": bytes([0]) + login_pdu(1, 0, 1, 3, text(*NAMES, *OPS), tsih=5),
    "acl_refused": bytes([1]) + login_pdu(1, 0, 0, 1, text(*NAMES)),
}

params = {
    "simple": text(*NAMES),
    "ops": text(*OPS),
    "no_trailing_nul": b"MaxBurstLength=262144",
    "padding": text(("A", "1")) + b"\0\0\0",
    "equals_in_value": text(("CHAP_C", "0xab=cd"), ("TargetAlias", "")),
    "binary_values": text(("CHAP_C", "0x" + bytes(range(32)).hex()), ("CHAP_R", "0bAAECAw=="),
                          ("CHAP_I", "0x1f"), ("CHAP_A", "7,5"), ("X", "0XABC"), ("Y", "0bZm9vYg")),
    "malformed": b"NoEquals\0=v\0",
}

# CHAP seeds (login_fuzz.cc option bits 3: "user1" bound, 4: outgoing "target1" bound, 5:
# with user1's secret). The harness's target answers CHAP_I=0x40 and CHAP_C=0x41..0x60.
USER_SECRET = b"user1-secret-0123"
TARGET_SECRET = b"target1-secret-4567"
CHAP_I = 0x40
CHAP_C = bytes(range(0x41, 0x61))
HASHES = {5: "md5", 6: "sha1", 7: "sha256", 8: "sha3_256"}
MY_C = bytes(range(0x90, 0xB0))


def chap(alg, ident, secret, challenge):
    return hashlib.new(HASHES[alg], bytes([ident]) + secret + challenge).digest()


def chap_login(opts, alg, names=NAMES, mutual=False, challenge=None, response=None, last=True):
    r = response if response is not None else "0x" + chap(alg, CHAP_I, USER_SECRET, CHAP_C).hex()
    third = [("CHAP_N", "user1"), ("CHAP_R", r)]
    if mutual:
        third += [("CHAP_I", "17"), ("CHAP_C", "0x" + (challenge or MY_C).hex())]
    blob = (bytes([opts]) +
            login_pdu(1, 0, 0, 1, text(*names, ("AuthMethod", "CHAP,None"))) +
            login_pdu(0, 0, 0, 1, text(("CHAP_A", str(alg))), itt=2) +
            login_pdu(1, 0, 0, 1, text(*third), itt=3))
    if last:
        blob += login_pdu(1, 0, 1, 3, text(*OPS), itt=4)
    return blob


DISCOVERY = [("InitiatorName", INITIATOR), ("SessionType", "Discovery")]
for alg in (5, 6, 7, 8):
    login["chap_a%d" % alg] = chap_login(8, alg)
    login["chap_a%d_mutual" % alg] = chap_login(8 | 16, alg, mutual=True)
login["chap_preference"] = (bytes([8]) +
    login_pdu(1, 0, 0, 1, text(*NAMES, ("AuthMethod", "CHAP"))) +
    login_pdu(0, 0, 0, 1, text(("CHAP_A", "4,8,7,6,5")), itt=2) +
    login_pdu(1, 0, 0, 1, text(("CHAP_N", "user1"), ("CHAP_R", "0x" + chap(8, CHAP_I, USER_SECRET, CHAP_C).hex())), itt=3) +
    login_pdu(1, 0, 1, 3, text(*OPS), itt=4))
login["chap_base64"] = chap_login(
    8, 7, response="0b" + base64.b64encode(chap(7, CHAP_I, USER_SECRET, CHAP_C)).decode())
login["chap_discovery"] = chap_login(8, 6, names=DISCOVERY)
login["chap_wrong_secret"] = chap_login(
    8, 5, response="0x" + chap(5, CHAP_I, b"not-the-secret!!", CHAP_C).hex())
login["chap_short_response"] = chap_login(
    8, 7, response="0x" + chap(7, CHAP_I, USER_SECRET, CHAP_C)[:-1].hex())
login["chap_reflected"] = chap_login(8 | 16, 5, mutual=True, challenge=CHAP_C)
login["chap_mutual_no_outgoing"] = chap_login(8, 5, mutual=True)
login["chap_mutual_same_secret"] = chap_login(8 | 16 | 32, 8, mutual=True)
login["chap_short_challenge"] = chap_login(8 | 16, 7, mutual=True, challenge=bytes(15))
login["chap_out_of_order"] = (bytes([8]) +
    login_pdu(1, 0, 0, 1, text(*NAMES, ("AuthMethod", "CHAP"))) +
    login_pdu(1, 0, 0, 1, text(("CHAP_N", "user1"), ("CHAP_R", "0x00")), itt=2))
login["chap_skip_security"] = bytes([8]) + login_pdu(1, 0, 1, 3, text(*NAMES, *OPS))
login["chap_none_only"] = (bytes([8]) +
    login_pdu(1, 0, 0, 1, text(*NAMES, ("AuthMethod", "None"))))

for name, blob in login.items():
    with open(os.path.join(HERE, "corpus", "login", name), "wb") as f:
        f.write(blob)
for name, blob in params.items():
    with open(os.path.join(HERE, "corpus", "params", name), "wb") as f:
        f.write(blob)
