#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpora of the whole-daemon fuzz targets (small, hand-made, committed):
#   corpus/scsi_cdb/       see scsi_cdb_fuzz.cc for the record format
#   corpus/admin_request/  JSON request lines (docs/admin-protocol.md)
#   corpus/cli_args/       option byte + NUL-separated modtgtadm arguments
#   corpus/iscsi_stream/   config byte + initiator bytes (after the harness's login prefix)
#   corpus/config_file/    saved configuration files (docs/operations.md), good and broken
#   corpus/module_descriptor/  the field record of module_descriptor_fuzz.cc
#   corpus/tgt_conf/       targets.conf files (tgt_conf_fuzz.cc: more files after "#=file NAME")
# Usage: python3 tests/fuzz/make_corpus_system.py   (rewrites the seeds it makes; seeds added
# to those folders by hand, such as crash regressions, are left alone)
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = "iqn.2024-01.org.modtgt:fuzz"
INITIATOR = "iqn.2024-01.org.example:host1"


def write_corpus(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for seed, blob in seeds.items():
        with open(os.path.join(d, seed), "wb") as f:
            f.write(blob)


# ---------------------------------------------------------------------------------------
# scsi_cdb: config byte, then records
#   flags(1) cdb_len(1) edtl(3) cdb(cdb_len) dlen(2) data(dlen)
NONE, READ, WRITE, BIDI = 0, 1, 2, 3


def rec(cdb, d=NONE, edtl=0, data=b"", nexus=0, lun=0, reset=False, fail=False,
        cdb_len=None):
    flags = d | (nexus << 2) | (lun << 3) | (0x20 if reset else 0) | (0x40 if fail else 0)
    cdb = bytes(cdb)
    n = len(cdb) if cdb_len is None else cdb_len
    cdb = (cdb + bytes(32))[:min(n, 32)]  # the harness reads min(cdb_len, 32) bytes
    return (bytes([flags, n]) + edtl.to_bytes(3, "big") + cdb +
            len(data).to_bytes(2, "big") + data)


def cdb6(op, lba=0, n=0, b1=0):
    return bytes([op, b1 | ((lba >> 16) & 0x1f), (lba >> 8) & 0xff, lba & 0xff, n, 0])


def cdb10(op, lba=0, n=0, b1=0):
    return bytes([op, b1]) + struct.pack(">I", lba) + b"\0" + struct.pack(">H", n) + b"\0"


def cdb16(op, lba=0, n=0, b1=0):
    return bytes([op, b1]) + struct.pack(">QI", lba, n) + b"\0\0"


def sa_in16(sa, alloc, lba=0):
    return bytes([0x9e, sa]) + struct.pack(">QI", lba, alloc) + b"\0\0"


def inquiry(evpd=0, page=0, alloc=255):
    return bytes([0x12, evpd, page]) + struct.pack(">H", alloc) + b"\0"


def pr_out(sa, ptype=0, key=0, sakey=0, flags=0):
    params = struct.pack(">QQ", key, sakey) + b"\0\0\0\0" + bytes([flags, 0, 0, 0])
    cdb = bytes([0x5f, sa, ptype, 0, 0]) + struct.pack(">I", len(params)) + b"\0"
    return cdb, params


def pr_in(sa, alloc=1024):
    return bytes([0x5e, sa, 0, 0, 0, 0, 0]) + struct.pack(">H", alloc) + b"\0"


def mode_select6(page):
    params = bytes([0, 0, 0, 0]) + page
    return bytes([0x15, 0x10, 0, 0, len(params), 0]), params


def mode_select10(page):
    params = bytes(8) + page
    return bytes([0x55, 0x10, 0, 0, 0, 0, 0]) + struct.pack(">H", len(params)) + b"\0", params


CACHING_WCE0 = bytes([0x08, 0x12]) + bytes(18)
CONTROL_DSENSE = bytes([0x0a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0, 0])


def unmap(ranges):
    desc = b"".join(struct.pack(">QI", lba, n) + b"\0" * 4 for lba, n in ranges)
    params = struct.pack(">HH", len(desc) + 6, len(desc)) + b"\0" * 4 + desc
    return bytes([0x42, 0, 0, 0, 0, 0, 0]) + struct.pack(">H", len(params)) + b"\0", params


TUR = bytes(6)
pattern = bytes(range(256)) * 16  # 4096 bytes

cdb_seeds = {}
cdb_seeds["inquiry_vpd"] = bytes([1]) + b"".join([
    rec(TUR),  # clears the power-on unit attention
    rec(inquiry(), READ, 255),
    rec(inquiry(1, 0x00), READ, 255), rec(inquiry(1, 0x80), READ, 255),
    rec(inquiry(1, 0x83), READ, 255), rec(inquiry(1, 0xb0), READ, 255),
    rec(inquiry(1, 0xb1), READ, 255), rec(inquiry(1, 0xb2), READ, 255),
    rec(bytes([0xa0, 0, 0, 0, 0, 0]) + struct.pack(">I", 256) + b"\0\0", READ, 256),
    rec(bytes([0x03, 0, 0, 0, 252, 0]), READ, 252),
])
cdb_seeds["read_write"] = bytes([8]) + b"".join([
    rec(TUR), rec(TUR, lun=1),
    rec(cdb10(0x2a, 0, 2), WRITE, 1024, pattern[:1024]),
    rec(cdb10(0x28, 0, 2), READ, 1024),
    rec(cdb16(0x8a, 8, 1), WRITE, 512, pattern[:512]),
    rec(cdb16(0x88, 8, 1), READ, 512),
    rec(cdb6(0x0a, 16, 1), WRITE, 512, pattern[:512]),
    rec(cdb6(0x08, 16, 1), READ, 512),
    rec(bytes([0xa8, 0]) + struct.pack(">II", 4, 2) + b"\0\0", READ, 1024),
    rec(cdb10(0x25), READ, 8), rec(sa_in16(0x10, 32), READ, 32),
    rec(cdb10(0x35, 0, 0)), rec(cdb10(0x2f, 0, 2, 0x02), WRITE, 1024, pattern[:1024]),
    rec(cdb10(0x2e, 0, 1), WRITE, 512, pattern[:512]),
    rec(cdb10(0x28, 510, 4), READ, 2048),  # past the end: LBA OUT OF RANGE
    rec(cdb10(0x28, 0, 4), READ, 512),     # EDTL shorter than the transfer: residual
    rec(cdb10(0x28, 0, 1), READ, 512, fail=True),
])
thin_ws = cdb16(0x93, 32, 8, 0x08)
caw = bytes([0x89, 0]) + struct.pack(">Q", 4) + b"\0\0\0" + bytes([1, 0, 0])
cdb_seeds["thin_unmap_ws_caw"] = bytes([1]) + b"".join([
    rec(TUR),
    rec(*unmap([(0, 8), (100, 4)])[:1], WRITE, len(unmap([(0, 8), (100, 4)])[1]),
        unmap([(0, 8), (100, 4)])[1]),
    rec(thin_ws, WRITE, 512, bytes(512)),
    rec(cdb16(0x93, 40, 4), WRITE, 512, pattern[:512]),
    rec(cdb10(0x41, 48, 2), WRITE, 512, pattern[:512]),
    rec(sa_in16(0x12, 64), READ, 64),
    rec(cdb10(0x2a, 4, 1), WRITE, 512, pattern[:512]),
    rec(caw, WRITE, 1024, pattern[:512] + bytes(512)),
    rec(caw, WRITE, 1024, bytes(1024)),  # miscompare
])
ms6 = mode_select6(CACHING_WCE0)
ms10 = mode_select10(CONTROL_DSENSE)
cdb_seeds["mode_sense_select"] = bytes([0]) + b"".join([
    rec(TUR),
    rec(bytes([0x1a, 0, 0x3f, 0, 255, 0]), READ, 255),
    rec(bytes([0x5a, 0, 0x3f, 0, 0, 0, 0]) + struct.pack(">H", 1024) + b"\0", READ, 1024),
    rec(bytes([0x1a, 0, 0x48, 0, 255, 0]), READ, 255),  # changeable values
    rec(ms6[0], WRITE, len(ms6[1]), ms6[1]),
    rec(ms10[0], WRITE, len(ms10[1]), ms10[1]),
    rec(cdb10(0x28, 9999, 1), READ, 512),  # descriptor-format sense now
    rec(bytes([0x1a, 0, 0x08, 0, 255, 0]), READ, 255),
])
reg0 = pr_out(0, sakey=0x1111)
reg1 = pr_out(0, sakey=0x2222)
res_we = pr_out(1, ptype=1, key=0x1111)
preempt = pr_out(4, ptype=1, key=0x2222, sakey=0x1111)
release = pr_out(2, ptype=1, key=0x2222)
clear = pr_out(3, key=0x2222)
reg_ign = pr_out(6, sakey=0x3333, flags=0x01)
cdb_seeds["persistent_reservations"] = bytes([0]) + b"".join([
    rec(TUR), rec(TUR, nexus=1),
    rec(reg0[0], WRITE, 24, reg0[1]), rec(reg1[0], WRITE, 24, reg1[1], nexus=1),
    rec(res_we[0], WRITE, 24, res_we[1]),
    rec(cdb10(0x2a, 0, 1), WRITE, 512, pattern[:512], nexus=1),  # RESERVATION CONFLICT
    rec(pr_in(0), READ, 1024), rec(pr_in(1), READ, 1024), rec(pr_in(2), READ, 1024),
    rec(pr_in(3), READ, 1024),
    rec(preempt[0], WRITE, 24, preempt[1], nexus=1),
    rec(release[0], WRITE, 24, release[1], nexus=1),
    rec(reg_ign[0], WRITE, 24, reg_ign[1]),
    rec(clear[0], WRITE, 24, clear[1], nexus=1),
    rec(TUR), rec(TUR, nexus=0),
])
cdb_seeds["spc2_reserve_reset"] = bytes([8]) + b"".join([
    rec(TUR), rec(TUR, nexus=1),
    rec(cdb6(0x16)), rec(TUR, nexus=1), rec(cdb10(0x28, 0, 1), READ, 512, nexus=1),
    rec(b"", reset=True, nexus=1),  # LUN RESET releases it
    rec(TUR), rec(bytes([0x03, 0, 0, 0, 252, 0]), READ, 252),
    rec(bytes([0x56]) + bytes(9)), rec(bytes([0x57]) + bytes(9)),
    rec(TUR, lun=2), rec(inquiry(), READ, 96, lun=2), rec(TUR, lun=3),
])
cdb_seeds["removable_readonly"] = bytes([2]) + b"".join([
    rec(TUR), rec(cdb10(0x2a, 0, 1), WRITE, 512, pattern[:512]),  # DATA PROTECT
    rec(bytes([0x1e, 0, 0, 0, 1, 0])),                           # PREVENT
    rec(bytes([0x1b, 0, 0, 0, 0x02, 0])),                        # eject: refused
    rec(bytes([0x1e, 0, 0, 0, 0, 0])),                           # ALLOW
    rec(bytes([0x1b, 0, 0, 0, 0x02, 0])),                        # eject
    rec(TUR), rec(cdb10(0x28, 0, 1), READ, 512),                  # MEDIUM NOT PRESENT
    rec(bytes([0x1b, 0, 0, 0, 0x03, 0])),                        # load
    rec(TUR), rec(cdb10(0x28, 0, 1), READ, 512),
])
cdb_seeds["blocks_4096"] = bytes([3]) + b"".join([
    rec(TUR), rec(sa_in16(0x10, 32), READ, 32), rec(inquiry(1, 0xb0), READ, 64),
    rec(cdb10(0x2a, 1, 1), WRITE, 4096, pattern),
    rec(cdb10(0x28, 1, 1), READ, 4096),
    rec(cdb10(0x28, 0, 16), READ, 65536),  # beyond MAXIMUM TRANSFER LENGTH
    rec(*unmap([(2, 2)])[:1], WRITE, 24, unmap([(2, 2)])[1]),
])
cdb_seeds["async_backend"] = bytes([4 | 1]) + b"".join([
    rec(TUR), rec(cdb10(0x2a, 0, 2), WRITE, 1024, pattern[:1024]),
    rec(cdb10(0x28, 0, 2), READ, 1024), rec(cdb10(0x35)), rec(thin_ws, WRITE, 512, bytes(512)),
    rec(caw, WRITE, 1024, bytes(1024)), rec(cdb10(0x28, 0, 1), READ, 512, fail=True),
])
rsoc = bytes([0xa3, 0x0c, 0x80, 0, 0, 0]) + struct.pack(">I", 4096) + b"\0\0"
rsoc_one = bytes([0xa3, 0x0c, 0x01, 0x28, 0, 0]) + struct.pack(">I", 64) + b"\0\0"
def fnv1a(data, h=0xcbf29ce484222325):
    for c in data.encode():
        h ^= c
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def naa(lun, target=TARGET):
    """The LU's NAA designator as scsi::LuNaaDesignator derives it (no configured serial)."""
    hi = (fnv1a(target) & 0x0000000fffffffff) | (0x001405 << 36)
    hi = (hi & 0x0fffffffffffffff) | (0x6 << 60)
    lo = fnv1a(str(lun), fnv1a(target))
    return struct.pack(">QQ", hi, lo)


def xcopy(segments, list_id=1, usage=0, lun=0):
    """EXTENDED COPY (LID1) of lun's blocks: segments are (blocks, src_lba, dst_lba)."""
    t = bytes([0xe4, 0, 0, 0, 0x01, 0x03, 0, 16]) + naa(lun) + bytes(4) + b"\0\0\x02\x00"
    s = b"".join(bytes([0x02, 0, 0, 0x18, 0, 0, 0, 0, 0, 0]) + struct.pack(">HQQ", *seg)
                 for seg in segments)
    params = bytes([list_id, usage << 3]) + struct.pack(">H", len(t)) + bytes(4) + \
        struct.pack(">II", len(s), 0) + t + s
    return bytes([0x83, 0]) + bytes(8) + struct.pack(">I", len(params)) + b"\0\0", params


def sanitize(sa, params=b"", immed=False):
    cdb = bytes([0x48, sa | (0x80 if immed else 0), 0, 0, 0, 0, 0]) + \
        struct.pack(">H", len(params)) + b"\0"
    return cdb, params


xc = xcopy([(16, 0, 100), (8, 100, 4)])
xc_hold = xcopy([(4, 0, 200)], list_id=7)
rcr_status = bytes([0x84, 0x00, 7]) + bytes(7) + struct.pack(">I", 64) + b"\0\0"
rcr_params = bytes([0x84, 0x03, 0]) + bytes(7) + struct.pack(">I", 64) + b"\0\0"
overwrite = sanitize(0x01, bytes([0x81, 0, 0, 3]) + b"\x12\x34\x56")
atomic = bytes([0x9c, 0x08]) + struct.pack(">QHH", 16, 0, 8) + b"\0\0"
cdb_seeds["copy_sanitize_atomic"] = bytes([1]) + b"".join([
    rec(TUR), rec(inquiry(1, 0x8f), READ, 255),
    rec(cdb10(0x2a, 0, 8), WRITE, 4096, pattern[:4096]),
    rec(xc[0], WRITE, len(xc[1]), xc[1]),
    rec(xc_hold[0], WRITE, len(xc_hold[1]), xc_hold[1]),
    rec(rcr_status, READ, 64), rec(rcr_params, READ, 64),
    rec(atomic, WRITE, 4096, pattern[:4096]),
    rec(sa_in16(0x12, 4096, 0), READ, 4096),
    rec(overwrite[0], WRITE, len(overwrite[1]), overwrite[1]),
    rec(sanitize(0x02)[0]), rec(TUR),
    rec(sanitize(0x02, immed=True)[0]), rec(bytes([0x03, 0, 0, 0, 252, 0]), READ, 252),
    rec(sanitize(0x03)[0]), rec(sanitize(0x1f)[0]),
])
cdb_seeds["malformed"] = bytes([16]) + b"".join([
    rec(TUR), rec(rsoc, READ, 4096), rec(rsoc_one, READ, 64),
    rec(TUR, cdb_len=0), rec(bytes(32), cdb_len=40),
    rec(bytes([0xff]) + bytes(15)),                    # unknown opcode
    rec(bytes([0x7f, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x0d]) + bytes(22)),  # variable length
    rec(bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x04]), READ, 512),  # NACA set
    rec(cdb10(0x28, 0, 1)[:6], READ, 512),             # CDB too short
    rec(cdb10(0x2a, 0, 4), WRITE, 512, pattern[:512]),  # less Data-Out than the CDB asks
    rec(cdb10(0x2a, 0, 1), NONE, 0),                   # write without Data-Out
    rec(inquiry(), WRITE, 16, bytes(16)),               # wrong direction
    rec(bytes([0x9e, 0x1f]) + bytes(14), READ, 64),    # unknown service action
])

# ---------------------------------------------------------------------------------------
# admin_request: JSON lines
def lines(*reqs):
    return b"".join(json.dumps(r).encode() + b"\n" for r in reqs)


NEW_T = {"mode": "target", "op": "new", "tid": 1, "targetname": TARGET, "alias": "a"}
NEW_LU = {"mode": "logicalunit", "op": "new", "tid": 1, "lun": 1, "bstype": "null",
          "backing_store": "1M"}
admin_seeds = {
    "system_show": lines({"mode": "system", "op": "show"}),
    "portal_show": lines({"mode": "portal", "op": "show", "lld": "iscsi"}),
    "target_lifecycle": lines(
        NEW_T, {"mode": "target", "op": "show"}, {"mode": "target", "op": "show", "tid": 1},
        {"mode": "target", "op": "bind", "tid": 1, "initiator_address": "ALL"},
        {"mode": "target", "op": "bind", "targetname": TARGET,
         "initiator_address": "10.1.2.3/8", "initiator_name": INITIATOR},
        {"mode": "target", "op": "unbind", "tid": 1, "initiator_address": "10.0.0.0/8"},
        {"mode": "target", "op": "bind", "tid": 1, "initiator_address": "[::1]"},
        {"mode": "target", "op": "delete", "targetname": TARGET, "force": True}),
    "lu_lifecycle": lines(
        NEW_T, NEW_LU,
        {"mode": "logicalunit", "op": "new", "tid": 1, "lun": 2, "bstype": "null",
         "backing_store": "x", "bsopts": "size=4M", "blocksize": 4096, "bsoflags": "direct,sync",
         "params": {"readonly": "1", "removable": True, "thin_provisioning": 1,
                    "vendor_id": "ACME", "product_id": "DISK", "product_rev": "0002",
                    "scsi_sn": "SN123", "scsi_id": "ID1", "naa": "0x6001405000000001",
                    "max_transfer_blocks": 128}},
        {"mode": "logicalunit", "op": "show", "tid": 1},
        {"mode": "logicalunit", "op": "show", "tid": 1, "lun": 2},
        {"mode": "logicalunit", "op": "update", "tid": 1, "lun": 1, "params": "wce=0"},
        {"mode": "logicalunit", "op": "update", "tid": 1, "lun": 1,
         "params": {"readonly": "yes", "vendor_id": "NEW"}},
        {"mode": "system", "op": "bsunload", "bstype": "null"},  # busy
        {"mode": "logicalunit", "op": "delete", "tid": 1, "lun": 1},
        {"mode": "logicalunit", "op": "delete", "tid": 1, "lun": 2, "force": True},
        {"mode": "target", "op": "delete", "tid": 1}),
    "lu_string_params": lines(
        NEW_T, dict(NEW_LU, params="readonly=1,vendor_id=ACME,size=1M,wce=off"),
        {"mode": "system", "op": "show"}),
    "modules": lines({"mode": "system", "op": "bsunload", "bstype": "null"},
                     {"mode": "system", "op": "bsload", "bstype": "null"},
                     {"mode": "system", "op": "bsload", "bstype": "rdwr"},
                     {"mode": "system", "op": "bsload", "bstype": "../x"}),
    "errors": lines(
        {"mode": "target", "op": "new", "tid": "1", "targetname": TARGET},
        {"mode": "target", "op": "new", "tid": 0, "targetname": "bad name"},
        {"mode": "target", "op": "new", "tid": 1, "tragetname": TARGET},
        {"mode": "account", "op": "new"}, {"mode": "x", "op": "y"}, {"op": "show"},
        {"mode": "system", "op": "show", "lld": "iser"},
        dict(NEW_LU, lun=99999), dict(NEW_LU, params="readonly=2"),
        dict(NEW_LU, params="readonly=1,readonly=0"), [1, 2], "str", None) +
        b"not json\n{\"mode\":\"system\",\"op\":\"show\"}\r\n",
}

# ---------------------------------------------------------------------------------------
# cli_args: option byte + NUL-separated argv
def argv(*args, env=0):
    return bytes([env]) + b"\0".join(a.encode() for a in args)


cli_seeds = {
    "target_new": argv("--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "2",
                       "--targetname", "iqn.2024-01.org.modtgt:two"),
    "lu_new_short": argv("-m", "logicalunit", "-o", "new", "-t", "1", "-l", "2", "-b", "1M",
                         "-E", "null", "-y", "4096", "-P", "readonly=1,thin_provisioning=1"),
    "bind": argv("--mode", "target", "--op", "bind", "--tid", "1", "-I", "ALL", "-Q", INITIATOR),
    "help": argv("--help"),
    "version": argv("-V"),
    "json_socket": argv("--json", "--socket", "/run/x.sock", "--mode", "system", "--op", "show",
                        env=1),
    "update": argv("--mode", "logicalunit", "--op", "update", "--tid", "1", "--lun", "1",
                   "--params", "wce=0"),
    "delete_force": argv("--mode", "logicalunit", "--op", "delete", "--tid=1", "--lun=1", "-F"),
    "bsload": argv("--mode", "system", "--op", "bsload", "--bstype", "null"),
    "bad": argv("--mode", "target", "--op", "new", "--tid", "x", "--bogus"),
}

# ---------------------------------------------------------------------------------------
# iscsi_stream: config byte + initiator bytes. After the harness's login (CmdSN 1,
# ExpStatSN 0) the first non-immediate command uses CmdSN 1.
def bhs(opcode, flags=0, lun=0, itt=0, f20=0, f24=0, f28=0, cdb=b"", data=b"", ahs=b""):
    h = bytearray(48)
    h[0] = opcode
    h[1] = flags
    h[4] = len(ahs) // 4
    h[5:8] = len(data).to_bytes(3, "big")
    h[8:16] = lun.to_bytes(8, "big")
    struct.pack_into(">IIII", h, 16, itt, f20, f24, f28)
    h[32:32 + len(cdb)] = cdb
    pad = (-len(data)) % 4
    return bytes(h) + ahs + data + b"\0" * pad


class Init:
    def __init__(self, cmd_sn=1, exp_stat_sn=1):
        self.itt = 0x10
        self.cmd_sn = cmd_sn
        self.exp = exp_stat_sn

    def next_itt(self):
        self.itt += 1
        return self.itt

    def scsi(self, cdb, edtl=0, read=False, write=False, data=b"", final=True, lun=0,
             immediate=False):
        flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 1
        sn = self.cmd_sn
        if not immediate:
            self.cmd_sn += 1
        cdb = bytes(cdb) + bytes(16 - len(cdb))
        return bhs(0x01 | (0x40 if immediate else 0), flags, lun << 48, self.next_itt(), edtl,
                   sn, self.exp, cdb, data)

    def data_out(self, itt, ttt, offset, data, data_sn=0, final=True, lun=0):
        h = bytearray(bhs(0x05, 0x80 if final else 0, lun << 48, itt, ttt, 0, self.exp,
                          b"", data))
        struct.pack_into(">II", h, 36, data_sn, offset)
        return bytes(h)

    def nop(self, data=b"", ping=True):
        itt = self.next_itt() if ping else 0xffffffff
        return bhs(0x40, 0x80, 0, itt, 0xffffffff, self.cmd_sn, self.exp, b"", data)

    def text(self, keys, ttt=0xffffffff):
        sn = self.cmd_sn
        self.cmd_sn += 1
        return bhs(0x04, 0x80, 0, self.next_itt(), ttt, sn, self.exp, b"", keys)

    def tmf(self, function, ref_itt=0xffffffff, lun=0, ref_cmd_sn=0):
        h = bytearray(bhs(0x42, 0x80 | function, lun << 48, self.next_itt(), ref_itt,
                          self.cmd_sn, self.exp))
        struct.pack_into(">I", h, 32, ref_cmd_sn)
        return bytes(h)

    def logout(self, reason=0, cid=0):
        h = bytearray(bhs(0x46, 0x80 | reason, 0, self.next_itt(), 0, self.cmd_sn, self.exp))
        struct.pack_into(">H", h, 20, cid)
        return bytes(h)

    def snack(self, snack_type, itt=0xffffffff, beg=0, run=0):
        h = bytearray(bhs(0x10, 0x80 | snack_type, 0, itt, 0xffffffff, 0, self.exp))
        struct.pack_into(">II", h, 40, beg, run)
        return bytes(h)

    def reassign(self, ref_itt, exp_data_sn=0):
        h = bytearray(self.tmf(8, ref_itt=ref_itt))
        struct.pack_into(">I", h, 36, exp_data_sn)
        return bytes(h)


def keys(*pairs):
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def read10(lba, n):
    return cdb10(0x28, lba, n)


def write10(lba, n):
    return cdb10(0x2a, lba, n)


def ffp_session(i):
    return b"".join([
        i.scsi(TUR),  # power-on unit attention
        i.scsi(inquiry(alloc=96), 96, read=True),
        i.scsi(write10(0, 1), 512, write=True, data=pattern[:512]),
        i.scsi(read10(0, 1), 512, read=True),
        i.scsi(sa_in16(0x10, 32), 32, read=True),
        i.nop(b"ping"),
        i.text(keys(("SendTargets", "All"))),
        i.tmf(1, ref_itt=0x999),  # ABORT TASK of an unknown task
        i.scsi(TUR, immediate=True),
        i.logout(),
    ])


stream_seeds = {}
# The target's TTTs are (counter << 10) | task index: with one task busy, the first two
# R2Ts of a connection carry these (see MODTGT_FUZZ_VERBOSE=1 output of the replay).
R2T_TTT1 = 0x401
R2T_TTT2 = 0x801
stream_seeds["ffp_basic"] = bytes([1]) + ffp_session(Init())
stream_seeds["ffp_digests"] = bytes([3]) + ffp_session(Init())
i = Init()
stream_seeds["r2t_small_segments"] = bytes([2]) + b"".join([
    i.scsi(TUR),
    i.scsi(write10(0, 4), 2048, write=True),                      # no immediate data: R2T
    i.data_out(0x12, R2T_TTT1, 0, pattern[:512], final=False),    # TTT of the first R2T
    i.data_out(0x12, R2T_TTT1, 512, pattern[512:2048], data_sn=1),
    i.scsi(read10(0, 4), 2048, read=True),                        # Data-In in 512-byte PDUs
    i.logout(),
])
i = Init()
stream_seeds["unsolicited_data_out"] = bytes([1]) + b"".join([
    i.scsi(TUR),
    i.scsi(write10(0, 4), 2048, write=True, data=pattern[:512], final=False),
    i.data_out(0x12, 0xffffffff, 512, pattern[512:2048]),
    i.scsi(read10(0, 4), 2048, read=True),
    i.scsi(TUR, lun=1),
    i.scsi(write10(8, 2), 1024, write=True, data=pattern[:1024], lun=1),
    i.scsi(cdb16(0x93, 16, 4, 0x08), 512, write=True, data=bytes(512), lun=1),
    i.logout(),
])
i = Init()
stream_seeds["small_limits_async"] = bytes([1 | 0x08 | 0x10]) + b"".join([
    i.scsi(TUR),
    i.scsi(write10(0, 16), 8192, write=True),                     # two R2Ts (MaxBurst 4096)
    i.data_out(0x12, R2T_TTT1, 0, pattern[:4096]),
    i.data_out(0x12, R2T_TTT2, 4096, pattern[:4096]),
    i.scsi(read10(0, 16), 8192, read=True),                       # Data-In, 2 sequences
    i.logout(),
])
i = Init()
stream_seeds["tmf_and_errors"] = bytes([1]) + b"".join([
    i.scsi(TUR),
    i.scsi(write10(0, 8), 4096, write=True),  # waits for Data-Out
    i.tmf(1, ref_itt=0x11),                   # ABORT TASK of it
    i.tmf(5),                                 # LOGICAL UNIT RESET
    i.tmf(2),                                 # ABORT TASK SET
    i.tmf(14),                                # unknown function
    bhs(0x1c, 0x80, 0, 0x77, 0, i.cmd_sn, 1),  # unknown opcode: Reject
    i.scsi(read10(0, 1), 512, read=True, lun=7),  # LUN not supported
    i.nop(ping=False),
    i.logout(2),
])
i = Init()
seq = [i.scsi(TUR) for _ in range(4)]
stream_seeds["cmdsn_out_of_order"] = bytes([1]) + b"".join([seq[1], seq[3], seq[0], seq[2],
                                                            i.scsi(TUR), i.logout()])
i = Init()
stream_seeds["discovery"] = bytes([4]) + b"".join([
    i.text(keys(("SendTargets", "All"))),
    i.text(keys(("SendTargets", TARGET))),
    i.logout(),
])

# ErrorRecoveryLevel 2 (prefix 5): a 16 KiB read in two Data-In PDUs, then every SNACK type
# for it (Data, Status, R-Data, DataACK, an unknown task), ExpStatSN held back so the
# responses are still kept; a TASK REASSIGN of a task still allegiant and of an unknown one;
# the Logout reasons (another CID, recovery of this connection).
i = Init()
i.exp = 0
stream_seeds["erl2_snack_reassign"] = bytes([5]) + b"".join([
    i.scsi(TUR),
    i.scsi(read10(0, 32), 16384, read=True),   # ITT 0x12: Data-In DataSN 0, 1
    i.snack(0, 0x12, 1, 1),                    # Data SNACK: DataSN 1 again
    i.snack(0, 0x12, 0, 0),                    # all of them
    i.snack(1, 0xffffffff, 1, 2),              # Status SNACK
    i.snack(3, 0x12, 0, 0),                    # R-Data SNACK
    i.snack(2, 0x12, 0, 0),                    # DataACK: never asked for
    i.snack(0, 0x999, 0, 0),                   # unknown task
    i.scsi(write10(0, 40), 20480, write=True, data=pattern[:8192], final=False),
    i.snack(0, 0x13, 0, 0),                    # R2T SNACK
    i.reassign(0x13),                          # still allegiant
    i.reassign(0x777),                         # no such task
    i.logout(1, cid=9),                        # CID not found
    i.logout(2, cid=0),                        # recovery of this, the only connection
])
# ERL 2 with digests (prefix 6), every other data segment with a wrong data digest: the
# SCSI Command's immediate data is rejected and retried, Data-Out recovered by R2T.
i = Init()
cmd_sn = i.cmd_sn
w = i.scsi(write10(0, 8), 4096, write=True, data=pattern[:1024], final=False)
stream_seeds["erl2_digest_errors"] = bytes([6 | 0x40]) + b"".join([
    i.nop(b"ping"),                                               # digest ok (1st)
    w,                                                            # bad digest (2nd)
    w,                                                            # retried, ok (3rd)
    i.data_out(0x11, 0xffffffff, 1024, pattern[1024:2048], final=False),  # bad (4th)
    i.data_out(0x11, 0xffffffff, 2048, pattern[2048:4096], data_sn=1),     # ok
    i.data_out(0x11, 0x400, 1024, pattern[1024:2048]),  # the recovery R2T's TTT, bad again
    i.scsi(read10(0, 8), 4096, read=True),
    i.logout(),
])
# MC/S (prefix 7): the input's connection (CID 1) joined the companion's session; commands,
# a Logout of the companion (CID 0) from here, a TASK REASSIGN, a session logout.
i = Init()
stream_seeds["mcs_join"] = bytes([7]) + b"".join([
    i.scsi(TUR),
    i.scsi(write10(0, 2), 1024, write=True, data=pattern[:1024]),
    i.scsi(read10(0, 2), 1024, read=True),
    i.text(keys(("SendTargets", ""), ("X-unknown", "1"), ("MaxBurstLength", "512"))),
    i.logout(2, cid=0),                        # the companion, for recovery
    i.reassign(0x999),
    i.logout(1, cid=0),
    i.logout(0),
])


def login_req(t, c, csg, nsg, data, itt, tsih=0):
    flags = (0x80 if t else 0) | (0x40 if c else 0) | (csg << 2) | nsg
    h = bytearray(bhs(0x43, flags, 0, itt, 0, 1, 0, b"", data))
    h[8:14] = bytes([0x80, 0x12, 0x34, 0x56, 0x00, 0x02])
    struct.pack_into(">H", h, 14, tsih)
    return bytes(h)


NAMES = [("InitiatorName", INITIATOR), ("TargetName", TARGET), ("SessionType", "Normal")]
i = Init()
stream_seeds["raw_two_stage_login"] = bytes([0]) + b"".join([
    login_req(1, 0, 0, 1, keys(*NAMES, ("AuthMethod", "None")), 1),
    login_req(1, 0, 1, 3, keys(("HeaderDigest", "None"), ("DataDigest", "None"),
                               ("MaxRecvDataSegmentLength", "4096")), 2),
    i.scsi(TUR), i.scsi(inquiry(alloc=36), 36, read=True), i.logout(),
])
stream_seeds["raw_garbage"] = bytes([0]) + b"\x43\x87" + bytes(46) + b"GET / HTTP/1.0\r\n\r\n"
stream_seeds["raw_bad_target"] = bytes([0]) + login_req(
    1, 0, 1, 3, keys(("InitiatorName", INITIATOR), ("TargetName", "iqn.2024-01.org.x:none")), 1)

# Long data segments (16 KiB and more: src/iscsi/receiver.cc kHeaderOnlyMin), which the
# receiver reads straight into the command's buffer, one readv per PDU: an 80 KiB WRITE
# with 16 KiB of immediate data, 16 + 32 KiB of unsolicited Data-Out (FirstBurstLength
# 64 KiB, all of which must come unsolicited) and 16 KiB after the R2T, then one with
# 16 KiB of immediate data only. Without digests (prefix 1), with (3), at ERL 2 with every
# other data digest wrong (6 | 0x40), and after a login of the input's own (0).
K16 = pattern * 4


def long_writes(i):
    return b"".join([
        i.scsi(TUR),
        i.scsi(write10(0, 160), 81920, write=True, data=K16, final=False),  # ITT 0x12
        i.data_out(0x12, 0xffffffff, 16384, K16[::-1], final=False),
        i.data_out(0x12, 0xffffffff, 32768, K16 * 2, data_sn=1),
        i.data_out(0x12, R2T_TTT1, 65536, K16),
        i.scsi(write10(160, 32), 16384, write=True, data=K16[::-1]),
        i.scsi(read10(0, 32), 16384, read=True),
        i.logout(),
    ])


stream_seeds["long_segments"] = bytes([1]) + long_writes(Init())
stream_seeds["long_segments_digests"] = bytes([3]) + long_writes(Init())
stream_seeds["long_segments_erl2_bad_digests"] = bytes([6 | 0x40]) + long_writes(Init())
stream_seeds["long_segments_raw_login"] = bytes([0]) + login_req(1, 0, 1, 3, keys(
    *NAMES, ("HeaderDigest", "None"), ("DataDigest", "None"), ("InitialR2T", "No"),
    ("ImmediateData", "Yes"), ("FirstBurstLength", "65536"), ("MaxRecvDataSegmentLength",
    "8192")), 1) + long_writes(Init())

write_corpus("scsi_cdb", cdb_seeds)
write_corpus("admin_request", admin_seeds)
write_corpus("cli_args", cli_seeds)
write_corpus("iscsi_stream", stream_seeds)


# ---------------------------------------------------------------------------------------
# config_file: state files
def saved_lun(lun, bstype="null", cfg="n1", **kw):
    l = {"lun": lun, "device_type": "disk", "bstype": bstype, "cfgstring": cfg, "bsopts": "size=1G",
         "bsoflags": "", "block_size": 512, "size": 0, "wwn": "", "hw_max_sectors": 0,
         "control": "", "readonly": False, "removable": False, "thin_provisioning": False,
         "write_cache": True, "vendor_id": "MODTGT", "product_id": "VIRTUAL-DISK",
         "product_rev": "0001", "scsi_sn": "SN%d" % lun, "scsi_id": "",
         "naa": "0x60014050000000%02x" % lun, "online": True}
    l.update(kw)
    return l


def saved(targets, **kw):
    c = {"schema": 1,
         "modules": {"backing_stores": [{"name": "null"}], "transports": [{"name": "iscsi"}]},
         "portals": {"iscsi": ["127.0.0.1:0"]}, "targets": targets,
         "accounts": [{"user": "alice", "secret": "0123456789abcdef"}],
         "discovery": {"incoming": [], "outgoing": ""}}
    c.update(kw)
    return json.dumps(c, indent=2).encode()


def saved_target(tid, luns, **kw):
    t = {"tid": tid, "name": "%s-%d" % (TARGET, tid), "alias": "",
         "acl": {"addresses": ["ALL", "10.0.0.0/8", "::1"], "names": [INITIATOR]},
         "chap": {"incoming": ["alice"], "outgoing": ""}, "luns": luns}
    t.update(kw)
    return t


config_seeds = {
    "empty": b'{"schema": 1}',
    "one_target": saved([saved_target(1, [saved_lun(1), saved_lun(2, "rdwr", "/nonexistent",
                                                                 size=1048576)])]),
    "cd_and_params": saved([saved_target(2, [saved_lun(0, "optical", "optical//none.iso",
                                                       device_type="cd", block_size=2048,
                                                       readonly=True, removable=True),
                                             saved_lun(3, control="max_data_area_mb=1",
                                                       hw_max_sectors=128)])]),
    "duplicate_key": b'{"schema": 1, "targets": [], "targets": []}',
    "bad_schema": b'{"schema": 7}',
    "torn": saved([saved_target(1, [saved_lun(1)])])[:200],
    "bad_naa": saved([saved_target(1, [saved_lun(1, naa="0x1234")])]),
    "unknown_account": saved([saved_target(1, [], chap={"incoming": ["bob"], "outgoing": "eve"})]),
}
write_corpus("config_file", config_seeds)


# ---------------------------------------------------------------------------------------
# module_descriptor: struct_size abi kind caps nr_threads device_type block_size (u32 LE
# each), 5 strings (present byte, length byte, bytes), callback mask (u32 LE)
def descriptor(struct_size=512, abi=(1 << 16) | 1, kind=1, caps=0, nr_threads=0, dev_type=0,
               block=0, strings=("null", None, "1.0", "d", "c"), mask=0b1111000):
    b = struct.pack("<7I", struct_size, abi, kind, caps, nr_threads, dev_type, block)
    for st in strings:
        if st is None:
            b += b"\0"
        else:
            b += bytes([1, len(st)]) + st.encode()
    return b + struct.pack("<I", mask)


descriptor_seeds = {
    "valid": descriptor(),
    "all_callbacks": descriptor(mask=0x1ffff),
    "abi2": descriptor(abi=2 << 16),
    "tiny": descriptor(struct_size=8),
    "no_name": descriptor(strings=(None, None, None, None, None)),
    "bad_name": descriptor(strings=("Bad-Name!", "x", "1", "d", "c")),
    "partial_lock": descriptor(mask=0b1111000 | (1 << 13)),
    "cd_odd_block": descriptor(dev_type=5, block=1000),
    "threads": descriptor(nr_threads=100000),
}
write_corpus("module_descriptor", descriptor_seeds)


# ---------------------------------------------------------------------------------------
# tgt_conf: targets.conf files (tgt_conf_fuzz.cc: more files after "#=file NAME" lines).
# LUNs use bs-type null (the only store the fuzzer loads); others are refused as not loaded.
TGT_FULL = """# every directive that makes targets
include conf.d/*.conf
includeoptional missing/*.conf
default-driver iscsi
incomingdiscoveryuser discuser discsecret123
outgoingdiscoveryuser discout discoutsecret1
<target iqn.2026-01.test.conf:alpha>
    backing-store n2
    backing-store n1
    bs-type null
    bsopts size=1G
    write-cache off
    vendor_id ACME
    product_id "DISK 1"
    product_rev 0101
    readonly 0
    initiator-address 127.0.0.1
    initiator-address 10.0.0.0/8
    initiator-name iqn.1993-08.org.debian:01:abc
    incominguser user1 secretpass12
    incominguser user2 secretpass23
    outgoinguser userA secretpassA12
    MaxRecvDataSegmentLength 65536
    MaxXmitDataSegmentLength 131072
    HeaderDigest None,CRC32C
    DataDigest None
    InitialR2T Yes
    MaxOutstandingR2T 4
    ImmediateData No
    FirstBurstLength 32768
    MaxBurstLength 131072
    DataPDUInOrder Yes
    DataSequenceInOrder Yes
    ErrorRecoveryLevel 0
    IFMarker No
    OFMarker No
    DefaultTime2Wait 5
    DefaultTime2Retain 30
    MaxConnections 1
    MaxQueueCmd 64
</target>
<target iqn.2026-01.test.conf:beta>
    <backing-store n3>
        lun 3
        bs-type null
        scsi_sn BETA-SN-3
        scsi_id BETA-ID-3
        vendor_id BVEND
        product_id BPROD
        product_rev 0202
        write-cache on
        bsoflags sync
        block-size 4096
        params thin_provisioning=1,removable=1
        mode_page 8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
    </backing-store>
    <direct-store n4>
        bs-type null
        readonly 1
        scsi_sn BETA-SN-D
        sense_format 1
    </direct-store>
    state offline
</target>
#=file conf.d/gamma.conf
<target iqn.2026-01.test.conf:gamma>
    controller_tid 7
    <backing-store n5>
        bs-type null
        bsopts size=1T
        removable 1
        device-type cd
    </backing-store>
    online 0
    allow-in-use yes
    initiator-name iqn.1993-08.org.debian:01:def
</target>
"""
tgt_seeds = {
    "full": TGT_FULL,
    "empty": "",
    "one_null_lun": "<target iqn.2026-01.x:t>\n  backing-store null0\n  bs-type null\n</target>\n",
    "quotes_continuation": ('<target "iqn.2026-01.x:q">\n  vendor_id "A B" # comment\n'
                            '  product_id P\\#1\n  backing-store \\\n    nq\n  bs-type = null\n'
                            '</target>\n'),
    "folder_include": ("include conf.d\n#=file conf.d/b.conf\n<target iqn.2026-01.x:b>\n"
                       "</target>\n#=file conf.d/a.conf\n<target iqn.2026-01.x:a>\n</target>\n"),
    "include_loop": "include targets.conf\ninclude x.conf\n#=file x.conf\ninclude targets.conf\n",
    "missing_include": "include nowhere.conf\n",
    "unclosed": "<target iqn.2026-01.x:u>\n  backing-store n\n",
    "mismatched": "<target iqn.2026-01.x:m>\n</backing-store>\n",
    "heredoc": "<target iqn.2026-01.x:h>\n  vendor_id <<EOT\nx\nEOT\n</target>\n",
    "unmapped": ("iSNSServerIP 192.0.2.1\niSNSAccessControl On\nignore-errors yes\n"
                 "control_port 3\n<target iqn.2026-01.x:n>\n  allow-in-use yes\n"
                 "  backing-store nu\n  bs-type null\n  write-cache maybe\n"
                 "  mode_page 1:0:10:0:0:0:0:0:0:0:0:0:0\n  frobnicate 1\n</target>\n"),
    "iser": "<target iqn.2026-01.x:i>\n  driver iser\n</target>\n",
    "bad_values": ("<target iqn.2026-01.x:v>\n  MaxRecvDataSegmentLength 12\n  lun 99999\n"
                   "  backing-store n\n  bs-type sg\n  device-type tape\n  readonly maybe\n"
                   "  initiator-address not-an-address\n  incominguser onlyuser\n</target>\n"
                   "<target BadName>\n</target>\n"),
    "duplicate_targets": ("<target iqn.2026-01.x:d>\n  backing-store n1\n  bs-type null\n</target>\n"
                          "<target iqn.2026-01.x:d>\n  backing-store n2\n  bs-type null\n</target>\n"),
    "deep_blocks": "<a 1>\n<b 2>\n<c 3>\n<d 4>\n<e 5>\n<f 6>\n<g 7>\n<h 8>\n<i 9>\n" + \
                   "</i>\n</h>\n</g>\n</f>\n</e>\n</d>\n</c>\n</b>\n</a>\n",
}
write_corpus("tgt_conf", {k: v.encode() for k, v in tgt_seeds.items()})
