// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace modtgt {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_target{static_cast<int>(LogTarget::kStderr)};
const char* const kNames[] = {"error", "warn", "info", "debug"};
const int kSyslogPriority[] = {3, 4, 6, 7};
}  // namespace

void SetLogTarget(LogTarget target) { g_target.store(static_cast<int>(target)); }

bool ParseLogTarget(const char* s, LogTarget* out) {
  if (std::strcmp(s, "stderr") == 0) {
    *out = LogTarget::kStderr;
  } else if (std::strcmp(s, "journal") == 0) {
    *out = LogTarget::kJournal;
  } else {
    return false;
  }
  return true;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

bool ParseLogLevel(const char* s, LogLevel* out) {
  for (int i = 0; i < 4; i++) {
    if (std::strcmp(s, kNames[i]) == 0) {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void LogV(LogLevel level, const char* prefix, const char* fmt, va_list ap) {
  if (!LogEnabled(level)) return;
  char buf[2048];
  const int l = static_cast<int>(level);
  int n;
  if (g_target.load(std::memory_order_relaxed) == static_cast<int>(LogTarget::kJournal)) {
    n = std::snprintf(buf, sizeof(buf), "<%d>modtgtd %s: %s", kSyslogPriority[l], kNames[l],
                      prefix ? prefix : "");
  } else {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm tmv;
    gmtime_r(&ts.tv_sec, &tmv);
    n = std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld modtgtd %s: %s", tmv.tm_hour,
                      tmv.tm_min, tmv.tm_sec, ts.tv_nsec / 1000000, kNames[l],
                      prefix ? prefix : "");
  }
  if (n < 0) return;
  if (n < static_cast<int>(sizeof(buf))) {
    int m = std::vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    if (m > 0) n += m;
  }
  if (n > static_cast<int>(sizeof(buf)) - 2) n = sizeof(buf) - 2;
  if (n > 0 && buf[n - 1] != '\n') buf[n++] = '\n';
  ssize_t w = ::write(STDERR_FILENO, buf, n);
  (void)w;
}

void Log(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  LogV(level, nullptr, fmt, ap);
  va_end(ap);
}

}  // namespace modtgt
