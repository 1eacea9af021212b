#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpus in tests/fuzz/corpus/ (small, hand-made, committed).
# Login inputs: one option byte (see login_fuzz.cc), then Login Request PDUs as on the
# wire (48-byte BHS + data). Params inputs: raw text segments.
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
    "chap": bytes([16 | 8]) +
        login_pdu(0, 0, 0, 0, text(*NAMES, ("AuthMethod", "CHAP"))) +
        login_pdu(0, 0, 0, 0, text(("CHAP_A", "5"))) +
        login_pdu(1, 0, 0, 1, text(("CHAP_N", "user"), ("CHAP_R", "ok"))) +
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
    "malformed": b"NoEquals\0=v\0",
}

for name, blob in login.items():
    with open(os.path.join(HERE, "corpus", "login", name), "wb") as f:
        f.write(blob)
for name, blob in params.items():
    with open(os.path.join(HERE, "corpus", "params", name), "wb") as f:
        f.write(blob)
