/* SPDX-License-Identifier: Apache-2.0
 *
 * takeover_probe: a small libiscsi initiator sending raw CDBs, for the e2e tests of the
 * example modules (tests/e2e/test-example-takeover.sh, test-example-callouts.sh).
 *
 *   takeover_probe URL tur                 one TEST UNIT READY, prints its result
 *   takeover_probe URL read LBA BLOCKS     one READ(16), prints its result
 *   takeover_probe URL unmap LBA BLOCKS    one UNMAP with one descriptor, prints its result
 *   takeover_probe URL rw BLOCKS           writes BLOCKS random blocks at LBA 0 with
 *                                          WRITE(10) and WRITE(16), reads them back with
 *                                          READ(10), READ(16) and READ(12) and compares
 *   takeover_probe URL zeros               READ CAPACITY(16), then every block reads 0
 *   takeover_probe URL format-progress     FORMAT UNIT with IMMED=1 (GOOD at once), then
 *                                          TEST UNIT READY until GOOD: every answer must be
 *                                          NOT READY 02/04/04 with a PROGRESS INDICATION
 *                                          that never shrinks and grows at least once;
 *                                          INQUIRY works and READ(10) is NOT READY 04/04
 *                                          meanwhile
 *   takeover_probe URL format-start        FORMAT UNIT with IMMED=1, prints its result
 *   takeover_probe URL format-wait         FORMAT UNIT without IMMED on one session while
 *                                          a second session polls TEST UNIT READY: the
 *                                          FORMAT must not end before a NOT READY 04/04
 *                                          was seen, and TUR is GOOD right after it ends
 *
 * A result line: "status=0xSS" and for CHECK CONDITION " sense=KK/AA/QQ" plus
 * " info=N" (INFORMATION valid) and " progress=N" (sense-key specific valid). Fixed and
 * descriptor sense formats are both decoded. Exit status: 0 done (the caller judges the
 * printed result) or check passed, 1 check failed, 2 usage / connection / transport
 * error.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR "iqn.2026-11.org.modtgt.test:takeover-probe"

struct result {
  int status;
  int key, asc, ascq;
  int info_valid;
  uint64_t info;
  int sksv;
  uint16_t sks; /* the 16-bit sense-key specific value (progress for NOT READY) */
  uint32_t datain_len;
};

static uint64_t be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static void put_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* Fixed (SPC-4 4.5.3) and descriptor (4.5.2) sense data. */
static void parse_sense(const uint8_t* s, int len, struct result* r) {
  if (len < 8) return;
  const uint8_t code = s[0] & 0x7f;
  if (code == 0x70 || code == 0x71) {
    r->key = s[2] & 0x0f;
    if (len >= 14) {
      r->asc = s[12];
      r->ascq = s[13];
    }
    r->info_valid = (s[0] & 0x80) != 0;
    r->info = be(s + 3, 4);
    if (len >= 18 && (s[15] & 0x80)) {
      r->sksv = 1;
      r->sks = (uint16_t)be(s + 16, 2);
    }
  } else if (code == 0x72 || code == 0x73) {
    r->key = s[1] & 0x0f;
    r->asc = s[2];
    r->ascq = s[3];
    int end = 8 + s[7];
    if (end > len) end = len;
    for (int d = 8; d + 2 <= end && d + 2 + s[d + 1] <= end; d += 2 + s[d + 1]) {
      if (s[d] == 0x00 && s[d + 1] >= 0x0a) { /* INFORMATION */
        r->info_valid = (s[d + 2] & 0x80) != 0;
        r->info = be(s + d + 4, 8);
      } else if (s[d] == 0x02 && s[d + 1] >= 0x06 && (s[d + 4] & 0x80)) { /* SKS */
        r->sksv = 1;
        r->sks = (uint16_t)be(s + d + 5, 2);
      }
    }
  }
}

static void print_result(const char* what, const struct result* r) {
  printf("%s status=0x%02x", what, r->status);
  if (r->status == SCSI_STATUS_CHECK_CONDITION) {
    printf(" sense=%02x/%02x/%02x", r->key, r->asc, r->ascq);
    if (r->info_valid) printf(" info=%" PRIu64, r->info);
    if (r->sksv) printf(" progress=%u", r->sks);
  }
  printf("\n");
  fflush(stdout);
}

static void die(struct iscsi_context* ctx, const char* what) {
  fprintf(stderr, "takeover_probe: %s: %s\n", what, ctx ? iscsi_get_error(ctx) : "");
  exit(2);
}

/* Builds a task for cdb; out (writes) / in (reads) of xfer bytes. */
static struct scsi_task* make_task(const uint8_t* cdb, int cdblen, int dir, int xfer) {
  struct scsi_task* t = scsi_create_task(cdblen, (unsigned char*)cdb, dir, xfer);
  if (t == NULL) {
    fprintf(stderr, "takeover_probe: out of memory\n");
    exit(2);
  }
  return t;
}

static void take_result(struct scsi_task* t, struct result* r, uint8_t* in, int inlen) {
  memset(r, 0, sizeof(*r));
  r->status = t->status;
  if (t->status == SCSI_STATUS_CHECK_CONDITION && t->datain.size > 2) {
    /* libiscsi keeps the SCSI Response's sense segment in datain: 2 bytes length, then
     * the sense data. */
    int sl = (int)be(t->datain.data, 2);
    if (sl > t->datain.size - 2) sl = t->datain.size - 2;
    parse_sense(t->datain.data + 2, sl, r);
  } else if (t->status == SCSI_STATUS_GOOD && in != NULL) {
    int n = t->datain.size < inlen ? t->datain.size : inlen;
    if (n > 0) memcpy(in, t->datain.data, (size_t)n);
    r->datain_len = (uint32_t)(n > 0 ? n : 0);
  }
}

/* Runs one CDB synchronously. dir: SCSI_XFER_NONE/READ/WRITE. */
static void run(struct iscsi_context* ctx, int lun, const uint8_t* cdb, int cdblen, int dir,
                uint8_t* buf, int len, struct result* r) {
  struct scsi_task* t = make_task(cdb, cdblen, dir, len);
  struct iscsi_data d = {.size = (size_t)len, .data = buf};
  struct scsi_task* done =
      iscsi_scsi_command_sync(ctx, lun, t, dir == SCSI_XFER_WRITE ? &d : NULL);
  if (done == NULL || t->status == SCSI_STATUS_ERROR || t->status == SCSI_STATUS_CANCELLED) {
    die(ctx, "command failed at the transport level");
  }
  take_result(t, r, dir == SCSI_XFER_READ ? buf : NULL, len);
  scsi_free_scsi_task(t);
}

static struct iscsi_context* connect_url(const char* url, int* lun, const char* suffix) {
  char name[128];
  snprintf(name, sizeof(name), "%s%s", INITIATOR, suffix);
  struct iscsi_context* ctx = iscsi_create_context(name);
  if (ctx == NULL) die(NULL, "iscsi_create_context");
  struct iscsi_url* u = iscsi_parse_full_url(ctx, url);
  if (u == NULL) die(ctx, "bad URL");
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  /* Not iscsi_full_connect_sync: it sends TEST UNIT READY after the login and gives up
   * on NOT READY, which a formatting LUN answers. */
  iscsi_set_targetname(ctx, u->target);
  if (iscsi_connect_sync(ctx, u->portal) != 0) die(ctx, "connect");
  if (iscsi_login_sync(ctx) != 0) die(ctx, "login");
  *lun = u->lun;
  iscsi_destroy_url(u);
  /* Consume the unit attentions of a new I_T nexus (POWER ON, RESET ...) with TEST UNIT
   * READY, which may itself answer NOT READY: that is fine here. */
  for (int i = 0; i < 8; i++) {
    const uint8_t cdb[6] = {0x00};
    struct result r;
    run(ctx, *lun, cdb, 6, SCSI_XFER_NONE, NULL, 0, &r);
    if (r.status != SCSI_STATUS_CHECK_CONDITION || r.key != 0x06) break;
  }
  return ctx;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int is_format_in_progress(const struct result* r) {
  return r->status == SCSI_STATUS_CHECK_CONDITION && r->key == 0x02 && r->asc == 0x04 &&
         r->ascq == 0x04;
}

static void tur(struct iscsi_context* ctx, int lun, struct result* r) {
  const uint8_t cdb[6] = {0x00};
  run(ctx, lun, cdb, 6, SCSI_XFER_NONE, NULL, 0, r);
}

static void read16(struct iscsi_context* ctx, int lun, uint64_t lba, uint32_t blocks,
                   uint8_t* buf, int len, struct result* r) {
  uint8_t cdb[16] = {0x88};
  put_be(cdb + 2, lba, 8);
  put_be(cdb + 10, blocks, 4);
  run(ctx, lun, cdb, 16, SCSI_XFER_READ, buf, len, r);
}

static uint32_t capacity(struct iscsi_context* ctx, int lun, uint64_t* blocks) {
  uint8_t cdb[16] = {0x9e, 0x10};
  uint8_t buf[32];
  struct result r;
  put_be(cdb + 10, sizeof(buf), 4);
  run(ctx, lun, cdb, 16, SCSI_XFER_READ, buf, sizeof(buf), &r);
  if (r.status != SCSI_STATUS_GOOD || r.datain_len < 12) {
    print_result("READ CAPACITY(16)", &r);
    exit(1);
  }
  *blocks = be(buf, 8) + 1;
  return (uint32_t)be(buf + 8, 4);
}

/* FORMAT UNIT: FMTDATA=1 with a short header whose IMMED bit is set, or FMTDATA=0. */
static struct scsi_task* format_task(int immed, struct iscsi_data* d, uint8_t* hdr) {
  uint8_t cdb[6] = {0x04, (uint8_t)(immed ? 0x10 : 0x00)};
  memset(hdr, 0, 4);
  hdr[1] = 0x02; /* IMMED */
  d->data = hdr;
  d->size = immed ? 4 : 0;
  return make_task(cdb, 6, immed ? SCSI_XFER_WRITE : SCSI_XFER_NONE, immed ? 4 : 0);
}

static int cmd_format_progress(struct iscsi_context* ctx, int lun) {
  uint8_t hdr[4];
  struct iscsi_data d;
  struct scsi_task* t = format_task(1, &d, hdr);
  double t0 = now_s();
  if (iscsi_scsi_command_sync(ctx, lun, t, &d) == NULL || t->status == SCSI_STATUS_ERROR) {
    die(ctx, "FORMAT UNIT");
  }
  struct result r;
  take_result(t, &r, NULL, 0);
  scsi_free_scsi_task(t);
  print_result("FORMAT UNIT (IMMED)", &r);
  if (r.status != SCSI_STATUS_GOOD) return 1;

  /* While formatting: INQUIRY is answered, a READ is NOT READY, FORMAT IN PROGRESS. */
  uint8_t inq[96];
  const uint8_t inq_cdb[6] = {0x12, 0, 0, 0, sizeof(inq), 0};
  run(ctx, lun, inq_cdb, 6, SCSI_XFER_READ, inq, sizeof(inq), &r);
  print_result("INQUIRY during format", &r);
  if (r.status != SCSI_STATUS_GOOD) return 1;
  uint8_t block[4096];
  const uint8_t rd_cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  run(ctx, lun, rd_cdb, 10, SCSI_XFER_READ, block, 512, &r);
  print_result("READ(10) during format", &r);
  if (!is_format_in_progress(&r)) {
    printf("FAIL: READ(10) during the format is not NOT READY 02/04/04\n");
    return 1;
  }

  int samples = 0, increases = 0, first = -1, last = -1;
  for (;;) {
    if (now_s() - t0 > 120) {
      printf("FAIL: the format did not end within 120 s\n");
      return 1;
    }
    tur(ctx, lun, &r);
    if (r.status == SCSI_STATUS_GOOD) break;
    if (!is_format_in_progress(&r) || !r.sksv) {
      print_result("FAIL: TEST UNIT READY during format", &r);
      return 1;
    }
    if (last >= 0 && r.sks < last) {
      printf("FAIL: progress went back from %d to %u\n", last, r.sks);
      return 1;
    }
    if (last >= 0 && r.sks > last) increases++;
    if (first < 0) first = r.sks;
    last = r.sks;
    samples++;
    sleep_ms(5);
  }
  printf("format-progress: %d NOT READY 02/04/04 answers, progress %d -> %d (%d increases), "
         "then GOOD after %.2f s\n", samples, first, last, increases, now_s() - t0);
  if (samples < 2 || increases < 1) {
    printf("FAIL: the progress indication was not seen growing\n");
    return 1;
  }
  return 0;
}

struct async_state {
  int done;
  int status;
};

static void format_cb(struct iscsi_context* ctx, int status, void* command_data, void* priv) {
  (void)ctx;
  (void)command_data;
  struct async_state* s = priv;
  s->done = 1;
  s->status = status;
}

static int cmd_format_wait(const char* url) {
  int lun = 0, lun2 = 0;
  struct iscsi_context* a = connect_url(url, &lun, ":a");
  struct iscsi_context* b = connect_url(url, &lun2, ":b");
  uint8_t hdr[4];
  struct iscsi_data d;
  struct scsi_task* t = format_task(0, &d, hdr);
  struct async_state st = {0, 0};
  double t0 = now_s();
  if (iscsi_scsi_command_async(a, lun, t, format_cb, NULL, &st) != 0) die(a, "FORMAT UNIT");
  int not_ready_before = 0;
  struct result r;
  while (!st.done) {
    if (now_s() - t0 > 120) {
      printf("FAIL: FORMAT UNIT without IMMED did not end within 120 s\n");
      return 1;
    }
    struct pollfd p = {.fd = iscsi_get_fd(a), .events = (short)iscsi_which_events(a)};
    int n = poll(&p, 1, 5);
    if (n < 0) die(a, "poll");
    if (iscsi_service(a, n > 0 ? p.revents : 0) != 0) die(a, "iscsi_service");
    if (st.done) break;
    tur(b, lun2, &r);
    if (is_format_in_progress(&r)) {
      if (!r.sksv) {
        print_result("FAIL: no progress indication", &r);
        return 1;
      }
      not_ready_before++;
    } else if (r.status == SCSI_STATUS_GOOD) {
      /* Either the format has not been accepted yet (the FORMAT PDU may still be on its
       * way) or it ended and its response is in flight: allowed only before the first
       * NOT READY. */
      if (not_ready_before > 0) {
        /* The format ended; its response must arrive now. */
        continue;
      }
    } else {
      print_result("FAIL: TEST UNIT READY during format", &r);
      return 1;
    }
  }
  double took = now_s() - t0;
  struct result fr;
  take_result(t, &fr, NULL, 0);
  scsi_free_scsi_task(t);
  print_result("FORMAT UNIT (no IMMED)", &fr);
  tur(b, lun2, &r);
  print_result("TEST UNIT READY after FORMAT", &r);
  printf("format-wait: FORMAT ended after %.2f s; %d NOT READY 02/04/04 seen before it\n",
         took, not_ready_before);
  iscsi_logout_sync(a);
  iscsi_logout_sync(b);
  iscsi_destroy_context(a);
  iscsi_destroy_context(b);
  if (fr.status != SCSI_STATUS_GOOD || r.status != SCSI_STATUS_GOOD) return 1;
  if (not_ready_before == 0) {
    printf("FAIL: FORMAT UNIT without IMMED ended before any NOT READY was seen\n");
    return 1;
  }
  return 0;
}

static int cmd_rw(struct iscsi_context* ctx, int lun, uint32_t blocks) {
  uint64_t nb;
  const uint32_t bs = capacity(ctx, lun, &nb);
  if (blocks < 2 || blocks > nb || (uint64_t)blocks * bs > (64u << 20)) {
    fprintf(stderr, "takeover_probe: rw: bad block count %u\n", blocks);
    return 2;
  }
  const size_t len = (size_t)blocks * bs;
  uint8_t* src = malloc(len);
  uint8_t* back = malloc(len);
  if (src == NULL || back == NULL) return 2;
  srand((unsigned)time(NULL));
  for (size_t i = 0; i < len; i++) src[i] = (uint8_t)rand();
  const uint32_t h = blocks / 2;
  struct result r;
  /* First half WRITE(10) with FUA, second half WRITE(16). */
  uint8_t w10[10] = {0x2a, 0x08};
  put_be(w10 + 7, h, 2);
  run(ctx, lun, w10, 10, SCSI_XFER_WRITE, src, (int)(h * bs), &r);
  print_result("WRITE(10) FUA", &r);
  if (r.status != SCSI_STATUS_GOOD) return 1;
  uint8_t w16[16] = {0x8a};
  put_be(w16 + 2, h, 8);
  put_be(w16 + 10, blocks - h, 4);
  run(ctx, lun, w16, 16, SCSI_XFER_WRITE, src + (size_t)h * bs, (int)((blocks - h) * bs), &r);
  print_result("WRITE(16)", &r);
  if (r.status != SCSI_STATUS_GOOD) return 1;
  /* Read back three ways: READ(10) and READ(16) (taken over by file_takeover), READ(12)
   * (the core's, through the read callout). */
  static const struct { uint8_t op; int len; const char* name; } reads[] = {
      {0x28, 10, "READ(10)"}, {0x88, 16, "READ(16)"}, {0xa8, 12, "READ(12)"}};
  for (size_t k = 0; k < sizeof(reads) / sizeof(reads[0]); k++) {
    uint8_t cdb[16] = {reads[k].op};
    if (reads[k].len == 10) put_be(cdb + 7, blocks, 2);
    if (reads[k].len == 16) put_be(cdb + 10, blocks, 4);
    if (reads[k].len == 12) put_be(cdb + 6, blocks, 4);
    memset(back, 0xee, len);
    run(ctx, lun, cdb, reads[k].len, SCSI_XFER_READ, back, (int)len, &r);
    print_result(reads[k].name, &r);
    if (r.status != SCSI_STATUS_GOOD || r.datain_len != len || memcmp(src, back, len) != 0) {
      printf("FAIL: %s did not read back what was written\n", reads[k].name);
      return 1;
    }
  }
  /* SYNCHRONIZE CACHE(10) inside and beyond the end (LBA OUT OF RANGE via a status). */
  uint8_t sc[10] = {0x35};
  run(ctx, lun, sc, 10, SCSI_XFER_NONE, NULL, 0, &r);
  print_result("SYNCHRONIZE CACHE(10)", &r);
  if (r.status != SCSI_STATUS_GOOD) return 1;
  put_be(sc + 2, nb, 4);
  put_be(sc + 7, 1, 2);
  run(ctx, lun, sc, 10, SCSI_XFER_NONE, NULL, 0, &r);
  print_result("SYNCHRONIZE CACHE(10) beyond the end", &r);
  if (r.status != SCSI_STATUS_CHECK_CONDITION || r.key != 0x05 || r.asc != 0x21) return 1;
  printf("rw: %u blocks of %u bytes written and read back identical\n", blocks, bs);
  free(src);
  free(back);
  return 0;
}

static int cmd_zeros(struct iscsi_context* ctx, int lun) {
  uint64_t nb;
  const uint32_t bs = capacity(ctx, lun, &nb);
  const uint32_t per = (1u << 20) / bs;
  uint8_t* buf = malloc(1u << 20);
  if (buf == NULL) return 2;
  struct result r;
  for (uint64_t lba = 0; lba < nb; lba += per) {
    uint32_t n = nb - lba < per ? (uint32_t)(nb - lba) : per;
    memset(buf, 0xee, (size_t)n * bs);
    read16(ctx, lun, lba, n, buf, (int)(n * bs), &r);
    if (r.status != SCSI_STATUS_GOOD) {
      print_result("READ(16)", &r);
      return 1;
    }
    for (size_t i = 0; i < (size_t)n * bs; i++) {
      if (buf[i] != 0) {
        printf("FAIL: byte %" PRIu64 " is 0x%02x, not zero\n", lba * bs + i, buf[i]);
        return 1;
      }
    }
  }
  printf("zeros: all %" PRIu64 " blocks of %u bytes read as zeros\n", nb, bs);
  free(buf);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: takeover_probe URL tur|read LBA BLOCKS|unmap LBA BLOCKS|rw BLOCKS|zeros|"
            "format-start|format-progress|format-wait\n");
    return 2;
  }
  const char* url = argv[1];
  const char* what = argv[2];
  if (strcmp(what, "format-wait") == 0) return cmd_format_wait(url);
  int lun = 0;
  struct iscsi_context* ctx = connect_url(url, &lun, "");
  int rc = 0;
  struct result r;
  if (strcmp(what, "tur") == 0) {
    tur(ctx, lun, &r);
    print_result("TEST UNIT READY", &r);
  } else if (strcmp(what, "read") == 0 && argc == 5) {
    const uint64_t lba = strtoull(argv[3], NULL, 0);
    const uint32_t blocks = (uint32_t)strtoul(argv[4], NULL, 0);
    static uint8_t buf[1 << 20];
    if ((uint64_t)blocks * 4096 > sizeof(buf)) return 2;
    read16(ctx, lun, lba, blocks, buf, (int)(blocks * 512), &r);
    print_result("READ(16)", &r);
  } else if (strcmp(what, "unmap") == 0 && argc == 5) {
    uint8_t cdb[10] = {0x42};
    uint8_t p[24] = {0};
    put_be(cdb + 7, sizeof(p), 2);
    put_be(p, sizeof(p) - 2, 2);  /* UNMAP DATA LENGTH */
    put_be(p + 2, 16, 2);         /* BLOCK DESCRIPTOR DATA LENGTH */
    put_be(p + 8, strtoull(argv[3], NULL, 0), 8);
    put_be(p + 16, strtoul(argv[4], NULL, 0), 4);
    run(ctx, lun, cdb, 10, SCSI_XFER_WRITE, p, sizeof(p), &r);
    print_result("UNMAP", &r);
  } else if (strcmp(what, "rw") == 0 && argc == 4) {
    rc = cmd_rw(ctx, lun, (uint32_t)strtoul(argv[3], NULL, 0));
  } else if (strcmp(what, "zeros") == 0) {
    rc = cmd_zeros(ctx, lun);
  } else if (strcmp(what, "format-start") == 0) {
    uint8_t hdr[4];
    struct iscsi_data d;
    struct scsi_task* t = format_task(1, &d, hdr);
    if (iscsi_scsi_command_sync(ctx, lun, t, &d) == NULL || t->status == SCSI_STATUS_ERROR) {
      die(ctx, "FORMAT UNIT");
    }
    take_result(t, &r, NULL, 0);
    scsi_free_scsi_task(t);
    print_result("FORMAT UNIT (IMMED)", &r);
  } else if (strcmp(what, "format-progress") == 0) {
    rc = cmd_format_progress(ctx, lun);
  } else {
    fprintf(stderr, "takeover_probe: unknown command '%s' or wrong arguments\n", what);
    rc = 2;
  }
  iscsi_logout_sync(ctx);
  iscsi_destroy_context(ctx);
  return rc;
}
