// SPDX-License-Identifier: Apache-2.0
// bs_ram's memory budget: how many bytes all ram LUNs of the daemon may hold at once.
// Header-only, no host calls, so that ram_test.cc tests it without a daemon.
//
// Thread-safe: Charge/Release are lock-free (one atomic counter); the limit is set by
// load() before any LUN opens and read-only afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include "../common/config_size.h"

namespace modtgt::ram {

// The environment variable that sets the budget.
inline constexpr char kBudgetEnv[] = "MODTGT_RAM_BUDGET";
// Without it: this percentage of the physical memory.
inline constexpr unsigned kDefaultBudgetPercent = 50;

// "8G", "512M", "1073741824" (config_size.h units) or "N%" (1..100) of `physical` bytes.
// Returns false with *error set on anything else, and on a budget of zero bytes.
inline bool ParseBudget(const std::string& text, uint64_t physical, uint64_t* bytes,
                        std::string* error) {
  if (!text.empty() && text.back() == '%') {
    uint64_t pct = 0;
    const std::string digits = text.substr(0, text.size() - 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 3 || (pct = std::stoull(digits)) == 0 || pct > 100) {
      *error = std::string(kBudgetEnv) + "='" + text + "': a percentage is 1% to 100%";
      return false;
    }
    *bytes = physical / 100 * pct + physical % 100 * pct / 100;
  } else if (!modules::ParseSize(text, bytes)) {
    *error = std::string(kBudgetEnv) + "='" + text +
             "' is not a size (e.g. 8G, 512M) or a percentage of the memory (e.g. 50%)";
    return false;
  }
  if (*bytes == 0) {
    *error = std::string(kBudgetEnv) + "='" + text + "' allows no memory at all";
    return false;
  }
  return true;
}

// "8.0 GiB (8589934592 bytes)": for messages.
inline std::string HumanBytes(uint64_t n) {
  static const char* const kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  char buf[96];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(n));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s (%llu bytes)", v, kUnits[u],
                  static_cast<unsigned long long>(n));
  }
  return buf;
}

// The budget: a limit and the bytes charged against it.
class Budget {
 public:
  void set_limit(uint64_t bytes) { limit_.store(bytes); }
  uint64_t limit() const { return limit_.load(); }
  uint64_t used() const { return used_.load(); }
  // Takes `bytes` if they fit under the limit; false (nothing taken) otherwise.
  bool Charge(uint64_t bytes) {
    uint64_t cur = used_.load();
    do {
      if (bytes > limit_.load() || cur > limit_.load() - bytes) return false;
    } while (!used_.compare_exchange_weak(cur, cur + bytes));
    return true;
  }
  // Takes `bytes` even past the limit (memory that already exists, found at a reopen).
  void ForceCharge(uint64_t bytes) { used_.fetch_add(bytes); }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes); }

 private:
  std::atomic<uint64_t> limit_{0};
  std::atomic<uint64_t> used_{0};
};

}  // namespace modtgt::ram
