// SPDX-License-Identifier: Apache-2.0
//
// config_size.h: ResizeError (the reconfig size check of bs_uring and bs_rbd, whose text
// their own tests and the e2e resize tests expect) and the size a config asks for.
#include "config_size.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "modtgt/module.h"

namespace modtgt::modules {
namespace {

TEST(ConfigSize, ResizeErrorAcceptsPositiveBlockMultiples) {
  EXPECT_EQ(ResizeError(512, 512), "");
  EXPECT_EQ(ResizeError(512 * 1000, 512), "");
  EXPECT_EQ(ResizeError(uint64_t{1} << 40, 4096), "");
  EXPECT_EQ(ResizeError(UINT64_MAX - UINT64_MAX % 4096, 4096), "");
}

TEST(ConfigSize, ResizeErrorNamesSizeAndBlockSize) {
  EXPECT_EQ(ResizeError(1000, 512), "size 1000 is not a positive multiple of the 512-byte block size");
  EXPECT_EQ(ResizeError(0, 4096), "size 0 is not a positive multiple of the 4096-byte block size");
  EXPECT_EQ(ResizeError(512, 4096), "size 512 is not a positive multiple of the 4096-byte block size");
  EXPECT_EQ(ResizeError(UINT64_MAX, 512),
            "size 18446744073709551615 is not a positive multiple of the 512-byte block size");
  // No block size is no valid size (and no division by zero).
  EXPECT_NE(ResizeError(4096, 0), "");
}

modtgt_dev_config Config(uint64_t size, const char* bsopts, const char* path, uint32_t bs) {
  modtgt_dev_config c{};
  c.struct_size = sizeof(c);
  c.size = size;
  c.bsopts = bsopts;
  c.path = path;
  c.block_size = bs;
  return c;
}

std::string Reason(const modtgt_dev_config& c, uint64_t fallback) {
  try {
    SizeFromConfig(c, fallback, "null");
  } catch (const modtgt::Error& e) {
    EXPECT_EQ(e.code(), MODTGT_EINVAL);
    return e.what();
  }
  return "";
}

TEST(ConfigSize, SizeFromConfigOrder) {
  EXPECT_EQ(SizeFromConfig(Config(1 << 20, "size=2M", "3M", 512), 0, "null"), 1u << 20);
  EXPECT_EQ(SizeFromConfig(Config(0, "size=2M", "3M", 512), 0, "null"), 2u << 20);
  EXPECT_EQ(SizeFromConfig(Config(0, "", "3MiB", 512), 0, "null"), 3u << 20);
  EXPECT_EQ(SizeFromConfig(Config(0, "", "", 512), 4096, "null"), 4096u);
  EXPECT_EQ(Reason(Config(0, "", "", 512), 0), "bs_null needs a size: --bsopts size=<N>[KMGT]");
  EXPECT_EQ(Reason(Config(1000, "", "", 512), 0),
            "size 1000 is not a multiple of the 512-byte block size");
  EXPECT_EQ(Reason(Config(0, "size=x", "", 512), 0), "invalid size 'x' in bsopts (e.g. size=10G)");
}

}  // namespace
}  // namespace modtgt::modules
