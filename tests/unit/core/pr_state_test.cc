// SPDX-License-Identifier: Apache-2.0
// The persistent-reservation state files (core/pr_state.h): the format and its strict
// parser, the durable save, restore at attach, a corrupt file moved aside, and the file's
// life with its LU (Target add / delete).
#include "core/pr_state.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "core/lun_ops.h"
#include "core/target.h"
#include "fakes/mem_backend.h"
#include "scsi/dispatch.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

constexpr char kTarget[] = "iqn.2026-12.org.modtgt.test:pr";

scsi::LuConfig Identity(uint64_t lun = 1, uint64_t naa = 0x6001405abcdef012ULL,
                        std::string serial = "SN0001") {
  scsi::LuConfig c;
  c.lun = lun;
  c.naa = naa;
  c.serial = std::move(serial);
  return c;
}

scsi::PersistentReservations Sample() {
  scsi::PersistentReservations pr;
  pr.generation = 7;
  pr.aptpl = true;
  scsi::PrRegistration a;
  a.key = 0x1122334455667788ULL;
  a.initiator_port = "iqn.2026-12.test:a,i,0x800000000001";
  a.target_port = std::string(kTarget) + ",t,0x0001";
  a.relative_port_id = 1;
  scsi::PrRegistration b = a;
  b.key = 0xb;
  b.initiator_port = "iqn.2026-12.test:b,i,0x800000000001";
  b.all_tg_pt = true;
  pr.registrations = {a, b};
  pr.reserved = true;
  pr.type = 3;  // EXCLUSIVE ACCESS
  pr.holder_initiator_port = a.initiator_port;
  pr.holder_target_port = a.target_port;
  return pr;
}

std::shared_ptr<scsi::LogicalUnit> NewLu(const scsi::LuConfig& c) {
  return std::make_shared<scsi::LogicalUnit>(
      c, &scsi::SbcDeviceType(), std::make_unique<modtgt::testing::MemBackend>(1 << 20), kTarget);
}

TEST(PrStateFormat, RoundTrips) {
  scsi::LuConfig id = Identity();
  Result<scsi::PersistentReservations> back = ParsePrState(EncodePrState(id, kTarget, Sample()), id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == Sample());
  scsi::PersistentReservations unreserved = Sample();
  unreserved.reserved = false;
  unreserved.type = 0;
  unreserved.holder_initiator_port.clear();
  unreserved.holder_target_port.clear();
  back = ParsePrState(EncodePrState(id, kTarget, unreserved), id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == unreserved);
}

// Parses the encoded sample after `edit` changed it; returns the error text ("" if it
// parsed).
std::string Broken(const std::function<void(nlohmann::json&)>& edit) {
  scsi::LuConfig id = Identity();
  nlohmann::json j = nlohmann::json::parse(EncodePrState(id, kTarget, Sample()));
  edit(j);
  Result<scsi::PersistentReservations> r = ParsePrState(j.dump(), id);
  return r.ok() ? "" : r.status().message();
}

TEST(PrStateFormat, StrictParsingSaysWhatIsWrong) {
  using J = nlohmann::json;
  EXPECT_THAT(Broken([](J& j) { j["extra"] = 1; }), HasSubstr("extra: unknown key"));
  EXPECT_THAT(Broken([](J& j) { j["version"] = 2; }), HasSubstr("version: is 2"));
  EXPECT_THAT(Broken([](J& j) { j["format"] = "x"; }), HasSubstr("format: must be"));
  EXPECT_THAT(Broken([](J& j) { j["generation"] = -1; }), HasSubstr("generation: must be"));
  EXPECT_THAT(Broken([](J& j) { j["aptpl"] = false; }), HasSubstr("aptpl: is false"));
  EXPECT_THAT(Broken([](J& j) { j.erase("registrations"); }), HasSubstr("registrations: missing"));
  EXPECT_THAT(Broken([](J& j) { j["registrations"][0]["key"] = "0x0000000000000000"; }),
              HasSubstr("registrations[0].key: a registration's key is never 0"));
  EXPECT_THAT(Broken([](J& j) { j["registrations"][0]["key"] = 5; }),
              HasSubstr("registrations[0].key: must be a string"));
  EXPECT_THAT(Broken([](J& j) { j["registrations"][1]["key"] = "0x12"; }),
              HasSubstr("registrations[1].key: must be \"0x\" and 16 hex digits"));
  EXPECT_THAT(Broken([](J& j) { j["registrations"][1] = j["registrations"][0]; }),
              HasSubstr("registrations[1]: the I_T nexus"));
  EXPECT_THAT(Broken([](J& j) { j["registrations"][0]["relative_port_id"] = 70000; }),
              HasSubstr("relative_port_id: must be at most 65535"));
  EXPECT_THAT(Broken([](J& j) { j["reservation"]["type"] = 2; }),
              HasSubstr("reservation.type: is not a reservation type"));
  EXPECT_THAT(Broken([](J& j) { j["reservation"]["holder_initiator_port"] = "iqn.x,i,0x1"; }),
              HasSubstr("reservation: its holder iqn.x,i,0x1 is not registered"));
  EXPECT_THAT(Broken([](J& j) { j["lu"]["serial"] = "OTHER"; }),
              HasSubstr("the file belongs to the LU with NAA"));
  EXPECT_THAT(Broken([](J& j) { j["lu"]["naa"] = "0x6001405abcdef013"; }),
              HasSubstr("the file belongs to the LU with NAA"));
  // Not JSON, a truncated file, a duplicate key.
  scsi::LuConfig id = Identity();
  std::string text = EncodePrState(id, kTarget, Sample());
  EXPECT_FALSE(ParsePrState(text.substr(0, text.size() / 2), id).ok());
  EXPECT_FALSE(ParsePrState("", id).ok());
  EXPECT_THAT(ParsePrState("{\"format\":1,\"format\":2}", id).status().message(),
              HasSubstr("duplicate key"));
}

class PrStateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-pr-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    store_ = std::make_shared<PrStateDir>(PrStateDir::FolderFor(root_ + "/state/config.json"));
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
  std::shared_ptr<PrStateDir> store_;
};

TEST_F(PrStateDirTest, FolderBesideTheConfigurationAndOneFilePerIdentity) {
  EXPECT_EQ(store_->dir(), root_ + "/state/pr");
  EXPECT_EQ(PrStateDir::FolderFor(""), "");  // --no-config: nowhere
  EXPECT_EQ(store_->PathFor(Identity()), root_ + "/state/pr/lu-6001405abcdef012-534e30303031.json");
  EXPECT_NE(store_->PathFor(Identity(1, 0x6001405abcdef012ULL, "SN0002")),
            store_->PathFor(Identity()));
  EXPECT_EQ(store_->PathFor(Identity(1, 0, "SN")), "") << "no NAA: cannot be keyed";
}

TEST_F(PrStateDirTest, SavesPrivatelyRestoresAtAttachAndRemovesWithoutAptpl) {
  auto lu = NewLu(Identity());
  ASSERT_TRUE(store_->Save(*lu, Sample()).ok());
  const std::string path = store_->PathFor(lu->config());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = NewLu(Identity());  // the same LU after a restart
  store_->Attach(again.get());
  {
    std::lock_guard<std::mutex> l(again->mutex());
    EXPECT_TRUE(again->pr == Sample());
    EXPECT_EQ(again->pr_persistence.get(), store_.get());
  }
  EXPECT_TRUE(again->reservation_active.load()) << "dispatch checks conflicts at once";
  scsi::PersistentReservations off = Sample();
  off.aptpl = false;
  ASSERT_TRUE(store_->Save(*again, off).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  auto third = NewLu(Identity());
  store_->Attach(third.get());
  std::lock_guard<std::mutex> l(third->mutex());
  EXPECT_TRUE(third->pr == scsi::PersistentReservations());
}

TEST_F(PrStateDirTest, ACorruptFileIsMovedAsideAndTheLuStartsWithoutState) {
  auto lu = NewLu(Identity());
  ASSERT_TRUE(store_->Save(*lu, Sample()).ok());
  const std::string path = store_->PathFor(lu->config());
  {
    std::ofstream f(path, std::ios::trunc);
    f << "{\"format\": \"modtgt-persistent-reservations\", \"vers";  // torn by hand
  }
  auto again = NewLu(Identity());
  store_->Attach(again.get());
  {
    std::lock_guard<std::mutex> l(again->mutex());
    EXPECT_TRUE(again->pr == scsi::PersistentReservations());
    EXPECT_NE(again->pr_persistence, nullptr) << "it can persist again";
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::exists(path + ".corrupt"));
}

TEST_F(PrStateDirTest, AnotherLuAtTheSamePlaceDoesNotInheritAndDeletingTheLunDeletesTheFile) {
  TargetRegistry registry;
  registry.set_pr_state(store_);
  auto target = std::make_shared<Target>(1, kTarget);
  ASSERT_TRUE(registry.Add(target).ok());
  auto lu = NewLu(Identity());
  ASSERT_TRUE(store_->Save(*lu, Sample()).ok());
  // LUN 1 re-created with another identity: starts empty, the first LU's file stays.
  auto other = NewLu(Identity(1, 0x6001405abcdef099ULL, "SN0999"));
  ASSERT_TRUE(target->AddLun(other).ok());
  {
    std::lock_guard<std::mutex> l(other->mutex());
    EXPECT_TRUE(other->pr.registrations.empty());
  }
  EXPECT_TRUE(std::filesystem::exists(store_->PathFor(lu->config())));
  ASSERT_TRUE(DeleteLun(target.get(), 1).ok());
  // The LU with the saved identity comes back with its state; deleting it removes the file.
  ASSERT_TRUE(target->AddLun(lu).ok());
  {
    std::lock_guard<std::mutex> l(lu->mutex());
    EXPECT_EQ(lu->pr.registrations.size(), 2u);
  }
  // A rollback (RemoveLun) keeps the file; a deletion does not.
  ASSERT_TRUE(target->RemoveLun(1).ok());
  EXPECT_TRUE(std::filesystem::exists(store_->PathFor(lu->config())));
  ASSERT_TRUE(target->AddLun(lu).ok());
  ASSERT_TRUE(DeleteLun(target.get(), 1).ok());
  EXPECT_FALSE(std::filesystem::exists(store_->PathFor(lu->config())));
  std::lock_guard<std::mutex> l(lu->mutex());
  EXPECT_EQ(lu->pr_persistence, nullptr) << "a command still in flight on it saves nothing";
}

}  // namespace
}  // namespace modtgt::core
