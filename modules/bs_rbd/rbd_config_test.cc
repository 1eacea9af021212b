// SPDX-License-Identifier: Apache-2.0
//
// bs_rbd's config string parser (rbd_config.cc): every accepted form and every refusal
// with its reason. No cluster involved.
#include "rbd_config.h"

#include <gtest/gtest.h>

namespace modtgt::rbd {
namespace {

RbdConfig Ok(const std::string& path, const std::string& bsopts = "") {
  RbdConfig c;
  std::string error;
  EXPECT_TRUE(ParseRbdConfig(path, bsopts, &c, &error)) << path << ": " << error;
  return c;
}

std::string Refused(const std::string& path, const std::string& bsopts = "") {
  RbdConfig c;
  std::string error;
  EXPECT_FALSE(ParseRbdConfig(path, bsopts, &c, &error)) << path << " was accepted";
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(RbdConfig, PoolImage) {
  RbdConfig c = Ok("pool1/disk1");
  EXPECT_EQ(c.pool, "pool1");
  EXPECT_EQ(c.ns, "");
  EXPECT_EQ(c.image, "disk1");
  EXPECT_EQ(c.snap, "");
  EXPECT_EQ(c.conf, "");
  EXPECT_EQ(c.id, "");
  EXPECT_EQ(c.osd_op_timeout, 30u);
  EXPECT_EQ(c.mon_op_timeout, 30u);
  EXPECT_EQ(c.lock, LockMode::kTake);
  EXPECT_FALSE(c.lock_given);
  EXPECT_EQ(c.Name(), "pool1/disk1");
}

TEST(RbdConfig, ImageAloneIsInPoolRbd) {
  // tgt's bs_rbd form, and what `--backing-store rbd/disk1` leaves after the subtype.
  RbdConfig c = Ok("disk1");
  EXPECT_EQ(c.pool, "rbd");
  EXPECT_EQ(c.image, "disk1");
}

TEST(RbdConfig, NamespaceAndSnapshot) {
  RbdConfig c = Ok("pool1/ns1/disk1@snap1");
  EXPECT_EQ(c.pool, "pool1");
  EXPECT_EQ(c.ns, "ns1");
  EXPECT_EQ(c.image, "disk1");
  EXPECT_EQ(c.snap, "snap1");
  EXPECT_EQ(c.Name(), "pool1/ns1/disk1@snap1");
  EXPECT_TRUE(c.SameImage(Ok("pool1/ns1/disk1@snap1;id=x")));
  EXPECT_FALSE(c.SameImage(Ok("pool1/ns1/disk1")));
}

TEST(RbdConfig, Options) {
  RbdConfig c = Ok("p/i;conf=/tmp/c/ceph.conf;id=client.gw1;keyring=/tmp/c/k;"
                   "osd_op_timeout=5;mon_op_timeout=7;lock=standby");
  EXPECT_EQ(c.conf, "/tmp/c/ceph.conf");
  EXPECT_EQ(c.id, "gw1");
  EXPECT_EQ(c.keyring, "/tmp/c/k");
  EXPECT_EQ(c.osd_op_timeout, 5u);
  EXPECT_EQ(c.mon_op_timeout, 7u);
  EXPECT_EQ(c.lock, LockMode::kStandby);
  EXPECT_TRUE(c.lock_given);
  EXPECT_EQ(Ok("p/i;id=admin").id, "admin");
}

TEST(RbdConfig, BsoptsAsInTgt) {
  RbdConfig c = Ok("p/i", "conf=/etc/x.conf;id=gw");
  EXPECT_EQ(c.conf, "/etc/x.conf");
  EXPECT_EQ(c.id, "gw");
  RbdConfig d = Ok("p/i;id=gw", "keyring=/k");
  EXPECT_EQ(d.id, "gw");
  EXPECT_EQ(d.keyring, "/k");
}

TEST(RbdConfig, RefusesMalformedNames) {
  EXPECT_NE(Refused("").find("no image given"), std::string::npos);
  EXPECT_NE(Refused(";id=x").find("no image given"), std::string::npos);
  EXPECT_NE(Refused("p/").find("malformed"), std::string::npos);
  EXPECT_NE(Refused("/i").find("malformed"), std::string::npos);
  EXPECT_NE(Refused("p//i").find("malformed"), std::string::npos);
  EXPECT_NE(Refused("a/b/c/d").find("too many"), std::string::npos);
  EXPECT_NE(Refused("p/i@").find("snapshot"), std::string::npos);
  EXPECT_NE(Refused("p/i@s@t").find("snapshot"), std::string::npos);
  EXPECT_NE(Refused("p/i x").find("malformed"), std::string::npos);
}

TEST(RbdConfig, RefusesBadOptions) {
  EXPECT_NE(Refused("p/i;foo=1").find("unknown option 'foo'"), std::string::npos);
  EXPECT_NE(Refused("p/i;conf").find("not KEY=VALUE"), std::string::npos);
  EXPECT_NE(Refused("p/i;").find("not KEY=VALUE"), std::string::npos);
  EXPECT_NE(Refused("p/i;=x").find("not KEY=VALUE"), std::string::npos);
  EXPECT_NE(Refused("p/i;conf=").find("needs a path"), std::string::npos);
  EXPECT_NE(Refused("p/i;id=a;id=b").find("given twice"), std::string::npos);
  EXPECT_NE(Refused("p/i;id=a", "id=b").find("given twice"), std::string::npos);
  EXPECT_NE(Refused("p/i", "bogus=1").find("in the bsopts"), std::string::npos);
  EXPECT_NE(Refused("p/i;osd_op_timeout=0").find("1 to 3600"), std::string::npos);
  EXPECT_NE(Refused("p/i;osd_op_timeout=3601").find("1 to 3600"), std::string::npos);
  EXPECT_NE(Refused("p/i;mon_op_timeout=5s").find("1 to 3600"), std::string::npos);
  EXPECT_NE(Refused("p/i;mon_op_timeout=-1").find("1 to 3600"), std::string::npos);
  EXPECT_NE(Refused("p/i;lock=maybe").find("lock=take or lock=standby"), std::string::npos);
  EXPECT_NE(Refused("p/i;id=").find("cephx user"), std::string::npos);
  EXPECT_NE(Refused("p/i;id=client.").find("cephx user"), std::string::npos);
}

}  // namespace
}  // namespace modtgt::rbd
