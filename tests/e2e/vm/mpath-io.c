/* SPDX-License-Identifier: Apache-2.0
 *
 * mpath-io: the application of the kernel-multipath test VM (tests/e2e/vm/init-mpath.sh).
 * Built by build-initramfs.sh with the host's C compiler, run in the guest:
 *
 *   mpath-io DEVICE BLOCKS STOP_FILE PROGRESS_FILE
 *
 * Writes and reads 4 KiB blocks of DEVICE (the dm-multipath device) with O_DIRECT, one at
 * a time, at random among the first BLOCKS blocks: each write is read back at once, and
 * another block already written (or never written: zeros) is read and checked against
 * the last write that completed there. Every 16-byte unit of a block holds "MTGT", the
 * block number, the write's generation and a mix of the three (the layout of
 * tests/tools/alua_mpath), so the host can check the image afterwards.
 *
 * Any failed read or write (an I/O error reached the application) or a block that reads
 * back wrong ends the program with exit status 1. STOP_FILE appearing (checked between
 * two I/Os) ends it normally: it prints one "KERNEL-MPATH-MODEL: BLOCK GEN" line per
 * block written (the last acknowledged generation) and exits 0.
 *
 * Lines on stdout (the guest's console), for the host to follow:
 *   KERNEL-MPATH-IO: ops=N                     every 500 ms
 *   KERNEL-MPATH-IO: resumed ops=N stall_ms=M  the first I/O that completed after a
 *                                              stall of 1 s or more (the failover)
 *   KERNEL-MPATH-IO: done ops=N writes=N reads=N errors=0 max_stall_ms=M
 *   KERNEL-MPATH-IO: ERROR ...
 * PROGRESS_FILE holds the number of completed operations (rewritten every 500 ms).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kBlock = 4096 };

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fill(unsigned char* buf, uint32_t block, uint32_t gen) {
  for (uint32_t off = 0; off < kBlock; off += 16) {
    uint32_t mix = (uint32_t)((uint64_t)block * 2654435761u) ^ gen ^ off;
    memcpy(buf + off, "MTGT", 4);
    memcpy(buf + off + 4, &block, 4);  /* x86: little-endian, as the host reads it */
    memcpy(buf + off + 8, &gen, 4);
    memcpy(buf + off + 12, &mix, 4);
  }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {  /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 32);
}

static uint64_t ops;
static int64_t last_done, max_stall;

/* One I/O done: account the time since the previous one. */
static void completed(void) {
  int64_t t = now_ms();
  int64_t stall = t - last_done;
  ops++;
  if (stall > max_stall) max_stall = stall;
  if (stall >= 1000) {
    printf("KERNEL-MPATH-IO: resumed ops=%" PRIu64 " stall_ms=%" PRId64 "\n", ops, stall);
    fflush(stdout);
  }
  last_done = t;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s DEVICE BLOCKS STOP_FILE PROGRESS_FILE\n", argv[0]);
    return 2;
  }
  const char* dev = argv[1];
  const uint32_t blocks = (uint32_t)strtoul(argv[2], NULL, 0);
  const char* stop = argv[3];
  if (blocks == 0) {
    fprintf(stderr, "mpath-io: BLOCKS must be > 0\n");
    return 2;
  }
  int fd = open(dev, O_RDWR | O_DIRECT);
  if (fd < 0) {
    printf("KERNEL-MPATH-IO: ERROR open %s: %s\n", dev, strerror(errno));
    return 1;
  }
  int pfd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  uint32_t* model = calloc(blocks, sizeof(uint32_t));
  unsigned char *wbuf, *rbuf, *want;
  if (pfd < 0 || model == NULL || posix_memalign((void**)&wbuf, kBlock, kBlock) ||
      posix_memalign((void**)&rbuf, kBlock, kBlock) || posix_memalign((void**)&want, kBlock, kBlock)) {
    printf("KERNEL-MPATH-IO: ERROR setup: %s\n", strerror(errno));
    return 1;
  }
  uint64_t writes = 0, reads = 0;
  uint32_t gen = 0;
  last_done = now_ms();
  int64_t next_tick = last_done + 500;
  for (;;) {
    if (access(stop, F_OK) == 0) break;
    /* Write a block, read it back. */
    uint32_t b = rnd() % blocks;
    gen++;
    fill(wbuf, b, gen);
    ssize_t n = pwrite(fd, wbuf, kBlock, (off_t)b * kBlock);
    if (n != kBlock) {
      printf("KERNEL-MPATH-IO: ERROR write block %u gen %u: %s\n", b, gen,
             n < 0 ? strerror(errno) : "short write");
      return 1;
    }
    model[b] = gen;
    writes++;
    completed();
    /* The block just written, then another one at random. */
    for (int k = 0; k < 2; k++) {
      uint32_t c = k == 0 ? b : rnd() % blocks;
      n = pread(fd, rbuf, kBlock, (off_t)c * kBlock);
      if (n != kBlock) {
        printf("KERNEL-MPATH-IO: ERROR read block %u: %s\n", c, n < 0 ? strerror(errno) : "short read");
        return 1;
      }
      reads++;
      if (model[c] == 0) {
        memset(want, 0, kBlock);
      } else {
        fill(want, c, model[c]);
      }
      if (memcmp(rbuf, want, kBlock) != 0) {
        uint32_t got_block, got_gen;
        memcpy(&got_block, rbuf + 4, 4);
        memcpy(&got_gen, rbuf + 8, 4);
        printf("KERNEL-MPATH-IO: ERROR block %u reads back wrong (starts %.4s block %u gen %u, "
               "last acknowledged gen %u)\n", c, (const char*)rbuf, got_block, got_gen, model[c]);
        return 1;
      }
      completed();
    }
    if (last_done >= next_tick) {
      next_tick = last_done + 500;
      printf("KERNEL-MPATH-IO: ops=%" PRIu64 "\n", ops);
      fflush(stdout);
      char num[32];
      int len = snprintf(num, sizeof(num), "%" PRIu64 "\n", ops);
      if (pwrite(pfd, num, (size_t)len, 0) != len || ftruncate(pfd, len) != 0) {
        printf("KERNEL-MPATH-IO: ERROR progress file: %s\n", strerror(errno));
        return 1;
      }
    }
  }
  for (uint32_t b = 0; b < blocks; b++) {
    if (model[b] != 0) printf("KERNEL-MPATH-MODEL: %u %u\n", b, model[b]);
  }
  printf("KERNEL-MPATH-IO: done ops=%" PRIu64 " writes=%" PRIu64 " reads=%" PRIu64
         " errors=0 max_stall_ms=%" PRId64 "\n", ops, writes, reads, max_stall);
  fflush(stdout);
  close(fd);
  return 0;
}
