/* SPDX-License-Identifier: Apache-2.0
 *
 * tcp_floor: the loopback floor of an iSCSI-shaped exchange, with no iSCSI and no SCSI in
 * it. It answers "how fast could any epoll-based target on this machine be?" for the two
 * shapes of issue 14 whose goals are about wake-ups rather than code:
 *
 *   --shape read   the client sends a 48-byte request, the server answers with one
 *                  sendmsg of 48 + 4096 bytes (a 4 KiB READ: command, Data-In with status)
 *   --shape write  the client sends a 48-byte header and then 4096 bytes of data in a
 *                  second send (as libiscsi sends a 4 KiB WRITE with immediate data), the
 *                  server answers with 48 bytes (the response)
 *
 * One process: a server thread runs an epoll loop on 127.0.0.1 (a port the kernel picks)
 * with a non-blocking socket, and on each wake-up reads what is there and answers every
 * complete request, all in one sendmsg, as modtgtd's loop does, with no work in between. The
 * client thread keeps --depth requests outstanding on one connection (TCP_NODELAY on both
 * ends) for --time seconds. Prints:
 *
 *   result shape=read depth=1 iops=15432 lat_us=64.8 server_cpu_us=9.1 client_cpu_us=12.0
 *
 * lat_us is the mean from the request's first send to its answer's last byte (at depth 1,
 * the round trip). server_cpu_us is the server thread's user+system CPU per exchange
 * (getrusage RUSAGE_THREAD): the kernel's receive, send and wake-up cost with nothing else.
 * bench/run.sh prints both next to the targets' figures. The line ends with the system
 * part of each thread's CPU (server_sys_us, client_sys_us) and the client's shape.
 *
 *   --client plain  (default) blocking send and recv: 2 system calls per read exchange
 *   --client iscsi  what libiscsi's event loop (bench/loadgen) does per command, system
 *                   call for system call, on a non-blocking socket: poll(POLLIN|POLLOUT),
 *                   send of the header (then writev of the data for a write); poll(POLLIN),
 *                   recv of the 48-byte header, readv of the 4096 bytes of a read's data:
 *                   5 per read exchange. The floor then carries the client a target's
 *                   benchmark really has (docs/perf-profile.md, "QD1: where the time goes").
 * Usage: tcp_floor [--shape read|write] [--depth N] [--time S] [--client plain|iscsi]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { kHeader = 48, kBlock = 4096, kMaxDepth = 256 };

static int g_write_shape;  /* 0: read, 1: write */
static int g_iscsi_client; /* 1: the client makes libiscsi's system calls (--client iscsi) */
static int g_depth = 1;
static double g_secs = 2.0;
static int g_listen_fd;
static double g_server_cpu;  /* seconds, set by the server thread when the client hangs up */
static double g_server_sys;  /* its system part */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The calling thread's CPU seconds (user + system); *sys (if set) gets the system part. */
static double thread_cpu_sys(double* sys) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  const double s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  if (sys) *sys = s;
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + s;
}


static void die(const char* what) {
  perror(what);
  exit(1);
}

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) die("tcp_floor: nodelay");
}

/* Blocking send of all n bytes. */
static void send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN) {  /* --client iscsi: a full socket */
      struct pollfd w = {.fd = fd, .events = POLLOUT};
      (void)poll(&w, 1, 100);
      continue;
    }
    if (k <= 0) die("tcp_floor: send");
    p += k;
    n -= (size_t)k;
  }
}

/* libiscsi's wait: poll one fd for `events` (100 ms at a time, as libiscsi's callers do). */
static void poll_for(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int n = poll(&p, 1, 100);
    if (n < 0 && errno != EINTR) die("tcp_floor: poll");
    if (n > 0) return;
  }
}

/* Non-blocking receive of exactly n bytes with recv (as libiscsi reads a header), waiting in
 * poll when the socket is empty. */
static void recv_nb(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t k = recv(fd, p, n, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
      poll_for(fd, POLLIN);
      continue;
    }
    if (k <= 0) die("tcp_floor: recv");
    p += k;
    n -= (size_t)k;
  }
}

/* The same with readv (as libiscsi reads a data segment into the task's buffer). */
static void readv_nb(int fd, char* p, size_t n) {
  while (n > 0) {
    struct iovec v = {.iov_base = p, .iov_len = n};
    ssize_t k = readv(fd, &v, 1);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
      poll_for(fd, POLLIN);
      continue;
    }
    if (k <= 0) die("tcp_floor: readv");
    p += k;
    n -= (size_t)k;
  }
}

/* One request as libiscsi sends it: poll for POLLIN|POLLOUT (its service loop), then the
 * header, then (a write) the data with writev. */
static void send_iscsi(int fd, const char* header, char* data) {
  poll_for(fd, POLLIN | POLLOUT);
  send_all(fd, header, kHeader);
  if (g_write_shape) {
    for (size_t off = 0; off < kBlock;) {
      struct iovec v = {.iov_base = data + off, .iov_len = kBlock - off};
      ssize_t k = writev(fd, &v, 1);
      if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
        poll_for(fd, POLLOUT);
        continue;
      }
      if (k <= 0) die("tcp_floor: writev");
      off += (size_t)k;
    }
  }
}

/* One answer as libiscsi takes it: poll for POLLIN, recv the header, readv the data. */
static void recv_iscsi(int fd, char* answer) {
  poll_for(fd, POLLIN);
  recv_nb(fd, answer, kHeader);
  if (!g_write_shape) readv_nb(fd, answer + kHeader, kBlock);
}

/* The server: one epoll loop, one connection, requests of a fixed size. */
static void* server(void* arg) {
  (void)arg;
  int fd = accept(g_listen_fd, NULL, NULL);
  if (fd < 0) die("tcp_floor: accept");
  nodelay(fd);
  if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) die("tcp_floor: fcntl");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("tcp_floor: epoll");

  const size_t req = g_write_shape ? kHeader + kBlock : kHeader;
  static char in[256 * 1024];
  static char answer[kHeader + kBlock];
  static struct iovec iov[kMaxDepth];
  const size_t answer_len = g_write_shape ? kHeader : kHeader + kBlock;
  size_t have = 0;
  double sys0;
  double cpu0 = thread_cpu_sys(&sys0);
  for (;;) {
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("tcp_floor: epoll_wait");
    ssize_t k = recv(fd, in + have, sizeof(in) - have, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (k <= 0) break; /* the client hung up */
    have += (size_t)k;
    /* Every complete request gets its answer, all of them in one sendmsg (as modtgtd
     * sends what one loop turn produced). */
    size_t used = 0;
    int answers = 0;
    while (have - used >= req && answers < kMaxDepth) {
      iov[answers].iov_base = answer;
      iov[answers].iov_len = answer_len;
      answers++;
      used += req;
    }
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)answers};
    while (m.msg_iovlen > 0) {
      ssize_t s = sendmsg(fd, &m, MSG_NOSIGNAL);
      if (s < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (s < 0) die("tcp_floor: sendmsg");
      /* Step past what went out (loopback with a reading client: rarely partial). */
      while (m.msg_iovlen > 0 && (size_t)s >= m.msg_iov->iov_len) {
        s -= (ssize_t)m.msg_iov->iov_len;
        m.msg_iov++;
        m.msg_iovlen--;
      }
      if (m.msg_iovlen > 0) {
        m.msg_iov->iov_base = (char*)m.msg_iov->iov_base + s;
        m.msg_iov->iov_len -= (size_t)s;
      }
    }
    memmove(in, in + used, have - used);
    have -= used;
  }
  double sys1;
  g_server_cpu = thread_cpu_sys(&sys1) - cpu0;
  g_server_sys = sys1 - sys0;
  close(fd);
  close(ep);
  return NULL;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      const char* s = argv[++i];
      if (strcmp(s, "read") == 0) {
        g_write_shape = 0;
      } else if (strcmp(s, "write") == 0) {
        g_write_shape = 1;
      } else {
        fprintf(stderr, "tcp_floor: --shape is read or write, not '%s'\n", s);
        return 2;
      }
    } else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc) {
      g_depth = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
      g_secs = atof(argv[++i]);
    } else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc) {
      const char* c = argv[++i];
      if (strcmp(c, "plain") == 0) {
        g_iscsi_client = 0;
      } else if (strcmp(c, "iscsi") == 0) {
        g_iscsi_client = 1;
      } else {
        fprintf(stderr, "tcp_floor: --client is plain or iscsi, not '%s'\n", c);
        return 2;
      }
    } else {
      fprintf(stderr, "usage: tcp_floor [--shape read|write] [--depth N] [--time S] "
                      "[--client plain|iscsi]\n");
      return 2;
    }
  }
  if (g_depth < 1 || g_depth > kMaxDepth || !(g_secs > 0)) {
    fprintf(stderr, "tcp_floor: --depth is 1..%d and --time above 0\n", kMaxDepth);
    return 2;
  }

  g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (g_listen_fd < 0 || bind(g_listen_fd, (struct sockaddr*)&a, sizeof(a)) != 0 ||
      listen(g_listen_fd, 1) != 0 || getsockname(g_listen_fd, (struct sockaddr*)&a, &alen) != 0)
    die("tcp_floor: listen");
  pthread_t t;
  if (pthread_create(&t, NULL, server, NULL) != 0) die("tcp_floor: pthread_create");

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) die("tcp_floor: connect");
  nodelay(fd);
  if (g_iscsi_client && fcntl(fd, F_SETFL, O_NONBLOCK) != 0) die("tcp_floor: fcntl");

  static char header[kHeader], data[kBlock], answer[kHeader + kBlock];
  const size_t answer_len = g_write_shape ? kHeader : kHeader + kBlock;
  double sent_at[kMaxDepth]; /* a ring: answers come back in order on one connection */
  int head = 0, tail = 0;
  uint64_t done = 0;
  double lat_sum = 0;

  /* Sends one request and notes when it went. */
#define SEND_ONE()                                         \
  do {                                                     \
    sent_at[tail] = now();                                 \
    tail = (tail + 1) % kMaxDepth;                         \
    if (g_iscsi_client) {                                  \
      send_iscsi(fd, header, data);                        \
    } else {                                               \
      send_all(fd, header, kHeader);                       \
      if (g_write_shape) send_all(fd, data, kBlock);       \
    }                                                      \
  } while (0)

  double csys0;
  double cpu0 = thread_cpu_sys(&csys0);
  double start = now(), end = start + g_secs;
  for (int i = 0; i < g_depth; i++) SEND_ONE();
  for (;;) {
    if (g_iscsi_client) {
      recv_iscsi(fd, answer);
    } else {
      for (size_t got = 0; got < answer_len;) {
        ssize_t k = recv(fd, answer, answer_len - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("tcp_floor: recv");
        got += (size_t)k;
      }
    }
    double t = now();
    lat_sum += t - sent_at[head];
    head = (head + 1) % kMaxDepth;
    done++;
    if (t >= end) break;
    SEND_ONE();
  }
  double elapsed = now() - start;
  double csys1;
  double client_cpu = thread_cpu_sys(&csys1) - cpu0;
  /* Drain what is still in flight, then hang up so the server stops and reports. */
  const int in_flight = (tail - head + kMaxDepth) % kMaxDepth;
  for (int left = in_flight; left > 0; left--) {
    if (g_iscsi_client) {
      recv_iscsi(fd, answer);
      continue;
    }
    for (size_t got = 0; got < answer_len;) {
      ssize_t k = recv(fd, answer, answer_len - got, 0);
      if (k <= 0) die("tcp_floor: recv");
      got += (size_t)k;
    }
  }
  shutdown(fd, SHUT_WR);
  pthread_join(t, NULL);
  close(fd);
  const double served = (double)(done + (uint64_t)in_flight);
  printf("result shape=%s depth=%d iops=%.0f lat_us=%.1f server_cpu_us=%.2f client_cpu_us=%.2f "
         "server_sys_us=%.2f client_sys_us=%.2f client=%s\n",
         g_write_shape ? "write" : "read", g_depth, done / elapsed, lat_sum / done * 1e6,
         g_server_cpu / served * 1e6, client_cpu / done * 1e6, g_server_sys / served * 1e6,
         (csys1 - csys0) / done * 1e6, g_iscsi_client ? "iscsi" : "plain");
  return 0;
}
