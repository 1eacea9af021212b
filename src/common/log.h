// SPDX-License-Identifier: Apache-2.0
// Leveled logging to stderr. Thread-safe: each message is written with one write(2).
#pragma once

#include <cstdarg>

namespace modtgt {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Where log lines go. kStderr: "HH:MM:SS.mmm modtgtd LEVEL: message" (UTC). kJournal:
// "<P>modtgtd LEVEL: message" with P the syslog priority (3 error, 4 warning, 6 info, 7
// debug), the prefix systemd's journal reads from a service's stderr; no time stamp (the
// journal adds its own).
enum class LogTarget { kStderr, kJournal };
void SetLogTarget(LogTarget target);
// Parses "stderr", "journal"; false on anything else.
bool ParseLogTarget(const char* s, LogTarget* out);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "error", "warn", "info", "debug"; returns false on anything else.
bool ParseLogLevel(const char* s, LogLevel* out);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void LogV(LogLevel level, const char* prefix, const char* fmt, va_list ap);

}  // namespace modtgt

#define LOG_ERROR(...) ::modtgt::Log(::modtgt::LogLevel::kError, __VA_ARGS__)
#define LOG_WARN(...) ::modtgt::Log(::modtgt::LogLevel::kWarn, __VA_ARGS__)
#define LOG_INFO(...) ::modtgt::Log(::modtgt::LogLevel::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...)                                                   \
  do {                                                                   \
    if (::modtgt::LogEnabled(::modtgt::LogLevel::kDebug))                \
      ::modtgt::Log(::modtgt::LogLevel::kDebug, __VA_ARGS__);            \
  } while (0)
