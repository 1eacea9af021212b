#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live reload of a backing-store module under I/O (issue 3, acceptance 3): a libiscsi
# initiator (a small C program built here) keeps 16 verified reads and writes in flight on
# an rdwr LUN while bs_rdwr is reloaded 24 times (alternating two copies of the file, plus
# refused reloads that must roll back), then reads every block back. Passes only if no I/O
# error reached the initiator, every block holds what was last written, the session was
# never dropped (no auto-reconnect; exactly one normal-session login in the daemon log),
# and every reload reported success (or, for the refused files, the rollback).
source "$(dirname "$0")/functions.sh"
requires python3 cc
[ -f /usr/include/iscsi/iscsi.h ] || { [ "${CI:-}" = true ] && fail "libiscsi-dev missing"; echo "SKIP: libiscsi-dev" >&2; exit 77; }
TESTMODS=$MODTGT_BUILD/tests/modules/backing-store
IQN=iqn.2026-11.org.modtgt.test:bsreload
RELOADS=${RELOADS:-24}
NBLOCKS=8192   # 4 MiB of 512-byte blocks

cat > "$TMP/iotest.c" <<'CSRC'
/* Continuous verified I/O through libiscsi (built by test-module-bs-reload.sh).
 * usage: iotest URL NBLOCKS STOPFILE
 * Keeps QD writes/reads in flight on random blocks until STOPFILE exists, checks every read
 * against what was last written (a block is never read and written at once), then reads all
 * blocks back and verifies them. Any SCSI error, lost connection or mismatch: exit 1. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BS 512
#define QD 16

static uint32_t* gen;     /* generation last written to each block; 0 = never (zeros) */
static uint8_t* busy;
static uint32_t nblocks;
static long writes, reads, errors, inflight;

struct op {
  uint32_t lba, g;
  int write;
  uint8_t buf[BS];
};

static void fill(uint8_t* b, uint32_t lba, uint32_t g) {
  uint32_t* w = (uint32_t*)b;
  for (int k = 0; k < BS / 4; k++) w[k] = g ? (lba * 2654435761u) ^ (g * 40503u) ^ (uint32_t)k : 0;
}

static void done(struct iscsi_context* iscsi, int status, void* data, void* pd) {
  struct op* o = pd;
  struct scsi_task* t = data;
  inflight--;
  busy[o->lba] = 0;
  if (status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "iotest: %s lba %u failed: status %d: %s\n", o->write ? "write" : "read",
            o->lba, status, iscsi_get_error(iscsi));
    errors++;
  } else if (o->write) {
    gen[o->lba] = o->g;
    writes++;
  } else {
    uint8_t want[BS];
    fill(want, o->lba, o->g);
    if (t->datain.size != BS || memcmp(t->datain.data, want, BS) != 0) {
      fprintf(stderr, "iotest: lba %u: data mismatch (expected generation %u)\n", o->lba, o->g);
      errors++;
    }
    reads++;
  }
  if (t) scsi_free_scsi_task(t);
  free(o);
}

static int issue(struct iscsi_context* iscsi, int lun, uint32_t lba, int write) {
  struct op* o = calloc(1, sizeof(*o));
  o->lba = lba;
  o->write = write;
  busy[lba] = 1;
  struct scsi_task* t;
  if (write) {
    o->g = gen[lba] + 1;
    fill(o->buf, lba, o->g);
    t = iscsi_write16_task(iscsi, lun, lba, o->buf, BS, BS, 0, 0, 0, 0, 0, done, o);
  } else {
    o->g = gen[lba];
    t = iscsi_read16_task(iscsi, lun, lba, BS, BS, 0, 0, 0, 0, 0, done, o);
  }
  if (t == NULL) {
    fprintf(stderr, "iotest: cannot queue: %s\n", iscsi_get_error(iscsi));
    busy[lba] = 0;
    free(o);
    return -1;
  }
  inflight++;
  return 0;
}

static int service(struct iscsi_context* iscsi) {
  struct pollfd p = {.fd = iscsi_get_fd(iscsi), .events = iscsi_which_events(iscsi)};
  if (poll(&p, 1, 1000) < 0) return -1;
  if (iscsi_service(iscsi, p.revents) < 0) {
    fprintf(stderr, "iotest: service: %s\n", iscsi_get_error(iscsi));
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  nblocks = (uint32_t)atoi(argv[2]);
  gen = calloc(nblocks, sizeof(*gen));
  busy = calloc(nblocks, 1);
  struct iscsi_context* iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:iotest");
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (!url) {
    fprintf(stderr, "iotest: bad url: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_noautoreconnect(iscsi, 1); /* a dropped session must fail the test */
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "iotest: login: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  int lun = url->lun;
  srandom(1);
  while (access(argv[3], F_OK) != 0 && errors == 0) {
    while (inflight < QD) {
      uint32_t lba = (uint32_t)random() % nblocks;
      if (busy[lba]) continue;
      if (issue(iscsi, lun, lba, random() % 2) != 0) return 1;
    }
    if (service(iscsi) != 0) return 1;
  }
  while (inflight > 0) {
    if (service(iscsi) != 0) return 1;
  }
  long during = writes + reads;
  /* Final pass: every block, as last written. */
  for (uint32_t lba = 0; lba < nblocks && errors == 0;) {
    while (inflight < QD && lba < nblocks) {
      if (issue(iscsi, lun, lba++, 0) != 0) return 1;
    }
    if (service(iscsi) != 0) return 1;
  }
  while (inflight > 0) {
    if (service(iscsi) != 0) return 1;
  }
  long written = 0;
  for (uint32_t i = 0; i < nblocks; i++) written += gen[i] != 0;
  printf("iotest: %ld writes, %ld reads during the run, %ld blocks written and verified, %ld errors\n",
         writes, during - writes, written, errors);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  iscsi_destroy_url(url);
  return errors == 0 && writes > 0 ? 0 : 1;
}
CSRC
cc -O1 -Wall -Wextra -o "$TMP/iotest" "$TMP/iotest.c" -liscsi || fail "cannot build the libiscsi initiator"

start_daemon --bstype null,rdwr
new_target 1 $IQN
truncate -s $((NBLOCKS * 512)) "$TMP/disk.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$TMP/disk.img"
# A second copy of the module file: reloads alternate between two different files.
RDWR=$MODULE_DIR/backing-store/bs_rdwr.so
cp "$RDWR" "$TMP/bs_rdwr_copy.so"

"$TMP/iotest" "iscsi://127.0.0.1:$PORT/$IQN/1" $NBLOCKS "$TMP/stop" > "$TMP/iotest.out" 2>&1 &
IO_PID=$!
cleanup_fn "kill $IO_PID 2>/dev/null"
sleep 1
kill -0 $IO_PID 2>/dev/null || fail "initiator exited early: $(cat "$TMP/iotest.out")"

ok=0
for i in $(seq 1 "$RELOADS"); do
  if [ $((i % 2)) = 1 ]; then file=$TMP/bs_rdwr_copy.so; else file=$RDWR; fi
  adm --mode system --op bsreload --bstype rdwr --path "$file" > "$TMP/reload.out" 2>&1 ||
    fail "reload $i from $file failed: $(cat "$TMP/reload.out")"
  ok=$((ok + 1))
  if [ $((i % 8)) = 4 ]; then
    # A refused file under I/O: the error names the rollback and I/O goes on.
    rc=0
    adm --mode system --op bsreload --bstype rdwr --path "$TESTMODS/bs_notelf.so" > "$TMP/reload.out" 2>&1 || rc=$?
    [ $rc = 9 ] && grep -q "rolled back to the previous code" "$TMP/reload.out" ||
      fail "refused reload: exit $rc: $(cat "$TMP/reload.out")"
  fi
  sleep 0.15
  kill -0 $IO_PID 2>/dev/null || fail "initiator died after reload $i: $(cat "$TMP/iotest.out")"
done
info "$ok reloads done under I/O"
[ "$ok" -ge 20 ] || fail "only $ok reloads"
path=$(adm --mode system --op show --json |
  json_get "[m['path'] for m in j['modules'] if m['name'] == 'rdwr' and m.get('kind', 'backing-store') == 'backing-store'][0]")
[ "$path" = "$(realpath "$RDWR")" ] || fail "rdwr path after the last reload: $path"

touch "$TMP/stop"
rc=0
wait $IO_PID || rc=$?
cat "$TMP/iotest.out" >&2
[ $rc = 0 ] || fail "the initiator saw errors (exit $rc)"
grep -q " 0 errors" "$TMP/iotest.out" || fail "initiator summary missing"
logins=$(grep -c "normal session tsih" "$LOG" || true)
[ "$logins" = 1 ] || fail "expected exactly one session login, the log has $logins"
reloaded=$(grep -c "module 'rdwr' reloaded from" "$LOG" || true)
[ "$reloaded" -ge "$ok" ] || fail "the log shows $reloaded reloads, expected $ok"
held=$(grep -o "[0-9]* held command(s) resumed" "$LOG" | awk '{s += $1} END {print s + 0}')
info "$held commands were held during the reloads and resumed"
[ "$held" -gt 0 ] || fail "no command was ever held: the reloads did not happen under I/O"
adm --mode logicalunit --op delete --tid 1 --lun 1
adm --mode system --op bsunload --bstype rdwr
stop_daemon
echo "PASS: $TEST_NAME"
