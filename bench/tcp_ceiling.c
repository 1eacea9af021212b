/* SPDX-License-Identifier: Apache-2.0
 *
 * tcp_ceiling: the loopback TCP ceiling, iperf3-style, without iperf3. One process: a
 * receiver thread accepts on 127.0.0.1 (a port the kernel picks) and reads into a 1 MiB
 * buffer; the sender writes --write-size bytes per send() for --time seconds on each of
 * --streams connections (one thread each). Prints bytes received per second:
 *
 *   result mbps=2987.4 streams=1 write_size=131072 secs=2.00
 *
 * MB/s is 10^6 bytes per second, measured at the receiver from the first to the last byte.
 * Usage: tcp_ceiling [--time S] [--write-size BYTES] [--streams N]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxStreams = 16 };

static double g_secs = 2.0;
static size_t g_write_size = 128 * 1024;
static int g_port;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct rx {
  int fd;
  uint64_t bytes;
  double first, last;
};

static void* receiver(void* arg) {
  struct rx* r = arg;
  char* buf = malloc(1 << 20);
  if (buf == NULL) return NULL;
  for (;;) {
    ssize_t n = recv(r->fd, buf, 1 << 20, 0);
    if (n <= 0) break;
    double t = now();
    if (r->bytes == 0) r->first = t;
    r->last = t;
    r->bytes += (uint64_t)n;
  }
  free(buf);
  return NULL;
}

static void* sender(void* arg) {
  (void)arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    perror("tcp_ceiling: connect");
    exit(1);
  }
  char* buf = calloc(1, g_write_size);
  if (buf == NULL) exit(1);
  double end = now() + g_secs;
  while (now() < end) {
    size_t off = 0;
    while (off < g_write_size) {
      ssize_t n = send(fd, buf + off, g_write_size - off, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        perror("tcp_ceiling: send");
        exit(1);
      }
      off += (size_t)n;
    }
  }
  close(fd);
  free(buf);
  return NULL;
}

int main(int argc, char** argv) {
  int streams = 1;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && strcmp(argv[i], "--time") == 0) {
      g_secs = atof(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "--write-size") == 0) {
      g_write_size = strtoul(argv[++i], NULL, 0);
    } else if (i + 1 < argc && strcmp(argv[i], "--streams") == 0) {
      streams = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: tcp_ceiling [--time S] [--write-size BYTES] [--streams N]\n");
      return 2;
    }
  }
  if (g_secs <= 0 || g_write_size == 0 || g_write_size > (64u << 20) || streams < 1 ||
      streams > kMaxStreams) {
    fprintf(stderr, "tcp_ceiling: --time > 0, 1 <= --write-size <= 64 MiB, 1 <= --streams <= %d\n",
            kMaxStreams);
    return 2;
  }
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (ls < 0 || bind(ls, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(ls, kMaxStreams) != 0 ||
      getsockname(ls, (struct sockaddr*)&a, &alen) != 0) {
    perror("tcp_ceiling: listen");
    return 1;
  }
  g_port = ntohs(a.sin_port);
  pthread_t st[kMaxStreams], rt[kMaxStreams];
  struct rx rx[kMaxStreams];
  memset(rx, 0, sizeof(rx));
  for (int i = 0; i < streams; ++i) pthread_create(&st[i], NULL, sender, NULL);
  for (int i = 0; i < streams; ++i) {
    rx[i].fd = accept(ls, NULL, NULL);
    if (rx[i].fd < 0) {
      perror("tcp_ceiling: accept");
      return 1;
    }
    pthread_create(&rt[i], NULL, receiver, &rx[i]);
  }
  uint64_t bytes = 0;
  double first = 0, last = 0;
  for (int i = 0; i < streams; ++i) {
    pthread_join(st[i], NULL);
    pthread_join(rt[i], NULL);
    close(rx[i].fd);
    bytes += rx[i].bytes;
    if (first == 0 || rx[i].first < first) first = rx[i].first;
    if (rx[i].last > last) last = rx[i].last;
  }
  double secs = last > first ? last - first : 1e-9;
  printf("result mbps=%.1f streams=%d write_size=%zu secs=%.2f\n", bytes / secs / 1e6, streams,
         g_write_size, secs);
  return 0;
}
