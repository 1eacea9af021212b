// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/xcopy.cc: EXTENDED COPY (LID1) within an LU and between LUs
// (byte-identical, several chunks, overlapping ranges), copy targets the nexus may not reach
// (another target without a resolver, or one the resolver refuses: COPY TARGET DEVICE NOT
// REACHABLE, nothing written), the parameter list checks libiscsi's ExtendedCopy tests
// make, copy target access (write protection, reservations), RECEIVE COPY RESULTS, an
// aborted copy, I/O errors, the concurrency limit and the Third-party Copy VPD page.
// Through scsi::Submit on a loop thread, over asynchronous in-memory backends.
#include "scsi/xcopy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "common/byteorder.h"
#include "fakes/fake_owner.h"
#include "fakes/io_gate.h"
#include "fakes/mem_backend.h"
#include "modtgt/module.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/spc.h"

namespace modtgt::scsi {
namespace {

using testing::FakeOwner;
using testing::LoopThread;
using testing::MemBackend;

constexpr uint32_t kBs = 512;
constexpr uint64_t kBlocks = 16384;  // 8 MiB per LU
constexpr uint8_t kCopyAborted = 0xa;
constexpr uint8_t kIllegal = 0x5;

// A target that offers a copy target resolver (what core::Target does).
class ResolvingTarget : public testing::FakeTarget {
 public:
  const CopyTargetResolver* copy_target_resolver() const override { return resolver; }
  const CopyTargetResolver* resolver = nullptr;
};

// Resolves in the nexus's own target and in the targets it was told admit the initiator.
class FakeResolver : public CopyTargetResolver {
 public:
  std::shared_ptr<LogicalUnit> ResolveCopyTarget(const Nexus& nexus, const uint8_t* naa,
                                                 size_t len) const override {
    ++calls;
    if (auto lu = FindLuByNaa(*nexus.target, naa, len)) return lu;
    for (const TargetView* t : admitting) {
      if (auto lu = FindLuByNaa(*t, naa, len)) return lu;
    }
    return nullptr;
  }
  std::vector<const TargetView*> admitting;
  mutable int calls = 0;
};

struct Sense {
  uint8_t key;
  uint16_t asc;
};

class XcopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_ = std::make_shared<ResolvingTarget>();
    other_ = std::make_shared<ResolvingTarget>();
    for (int i = 0; i < 3; ++i) lus_.push_back(AddLu(target_.get(), "iqn.2024-01.test:t1", i));
    lus_.push_back(AddLu(other_.get(), "iqn.2024-01.test:t2", 0));
    owner_ = std::make_unique<FakeOwner>(loop_.loop());
    for (int i = 0; i < 2; ++i) {
      testing::InitNexus(&nexus_[i], 900 + i, i, "iqn.2024-01.test:t1", target_);
    }
    for (int i = 0; i < 2; ++i) ClearUa(i, 0);
  }
  void TearDown() override {
    gate_.Open();
    owner_.reset();
    cmds_.clear();
  }

  std::shared_ptr<LogicalUnit> AddLu(testing::FakeTarget* t, const std::string& name,
                                     uint64_t lun, bool readonly = false,
                                     bool zero_reads = false) {
    testing::MemBackendCaps caps;
    caps.zero_reads = zero_reads;
    auto be = std::make_unique<MemBackend>(kBlocks * kBs, caps, /*async=*/true);
    backends_.push_back(be.get());
    be->SetBeforeIo([this](const IoRequest&) { gate_.Pass(); });
    LuConfig cfg;
    cfg.lun = lun;
    cfg.block_size = kBs;
    cfg.readonly = readonly;
    auto lu = std::make_shared<LogicalUnit>(cfg, &SbcDeviceType(), std::move(be), name);
    t->Add(lu);
    return lu;
  }

  Command* NewCmd(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out, int n,
                  uint64_t lun) {
    cmds_.push_back(std::make_unique<Command>());
    Command* cmd = cmds_.back().get();
    testing::InitCommand(cmd, cdb, out, owner_.get());
    cmd->lun = lun;
    cmd->nexus = &nexus_[n];
    cmd->expected_length = out.empty() ? 65536 : static_cast<uint32_t>(out.size());
    return cmd;
  }
  Command* Run(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out = {}, int n = 0,
               uint64_t lun = 0) {
    Command* cmd = NewCmd(cdb, out, n, lun);
    EXPECT_TRUE(testing::RunSubmit(cmd, owner_.get()));
    return cmd;
  }
  // Waits until every closure posted to the loop before has run.
  void SyncLoop() { ASSERT_TRUE(testing::SyncLoop(owner_->loop())); }
  // Submits without waiting; the count of completed commands before is in started_.
  Command* Start(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out, int n = 0) {
    started_ = owner_->done_count();
    Command* cmd = NewCmd(cdb, out, n, 0);
    owner_->loop()->Post([cmd] { Submit(cmd); });
    return cmd;
  }
  void ClearUa(int n, uint64_t lun) {
    for (int i = 0; i < 4; ++i) {
      Command* c = Run({0x00, 0, 0, 0, 0, 0}, {}, n, lun);
      if (c->status == Status::kGood) return;
    }
  }
  static Sense SenseOf(const Command* c) {
    return {static_cast<uint8_t>(c->sense[2] & 0xf),
            static_cast<uint16_t>(c->sense[12] << 8 | c->sense[13])};
  }
  static void ExpectCheck(const Command* c, uint8_t key, uint16_t asc) {
    ASSERT_EQ(c->status, Status::kCheckCondition);
    EXPECT_EQ(SenseOf(c).key, key);
    EXPECT_EQ(SenseOf(c).asc, asc) << std::hex << SenseOf(c).asc;
  }
  static void ExpectGood(const Command* c) {
    EXPECT_EQ(c->status, Status::kGood) << "sense " << int(SenseOf(c).key) << " " << std::hex
                                        << SenseOf(c).asc;
  }

  // ---- Parameter list builders ----
  static std::vector<uint8_t> TargetDescriptor(const LogicalUnit& lu, uint8_t type = 0xe4,
                                               uint32_t block = kBs) {
    std::vector<uint8_t> d(32, 0);
    d[0] = type;
    d[4] = 0x01;  // binary
    d[5] = 0x03;  // association LU, NAA
    d[7] = 16;
    const auto naa = LuNaaDesignator(lu);
    std::memcpy(&d[8], naa.data(), naa.size());
    PutBe24(&d[29], block);
    return d;
  }
  static std::vector<uint8_t> Segment(uint16_t src, uint16_t dst, uint16_t blocks,
                                      uint64_t src_lba, uint64_t dst_lba, uint8_t type = 0x02) {
    std::vector<uint8_t> d(28, 0);
    d[0] = type;
    PutBe16(&d[2], 0x18);
    PutBe16(&d[4], src);
    PutBe16(&d[6], dst);
    PutBe16(&d[10], blocks);
    PutBe64(&d[12], src_lba);
    PutBe64(&d[20], dst_lba);
    return d;
  }
  static std::vector<uint8_t> ParamList(const std::vector<std::vector<uint8_t>>& targets,
                                        const std::vector<std::vector<uint8_t>>& segments,
                                        uint8_t list_id = 1, uint8_t usage = kListIdUsageHold) {
    std::vector<uint8_t> p(16, 0);
    p[0] = list_id;
    p[1] = static_cast<uint8_t>(usage << 3);
    size_t tdl = 0, sdl = 0;
    for (const auto& t : targets) {
      p.insert(p.end(), t.begin(), t.end());
      tdl += t.size();
    }
    for (const auto& s : segments) {
      p.insert(p.end(), s.begin(), s.end());
      sdl += s.size();
    }
    PutBe16(&p[2], static_cast<uint16_t>(tdl));
    PutBe32(&p[8], static_cast<uint32_t>(sdl));
    return p;
  }
  static std::vector<uint8_t> XcopyCdb(uint32_t plen) {
    std::vector<uint8_t> c(16, 0);
    c[0] = kThirdPartyCopyOut;
    PutBe32(&c[10], plen);
    return c;
  }
  static std::vector<uint8_t> RcrCdb(uint8_t sa, uint8_t list_id, uint32_t alloc = 1024) {
    std::vector<uint8_t> c(16, 0);
    c[0] = kThirdPartyCopyIn;
    c[1] = sa;
    c[2] = list_id;
    PutBe32(&c[10], alloc);
    return c;
  }
  Command* Xcopy(const std::vector<uint8_t>& params, int n = 0) {
    return Run(XcopyCdb(static_cast<uint32_t>(params.size())), params, n);
  }
  std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13 + i / 512);
    return v;
  }

  LoopThread loop_;
  testing::IoGate gate_;
  std::shared_ptr<ResolvingTarget> target_;
  std::shared_ptr<ResolvingTarget> other_;
  std::vector<std::shared_ptr<LogicalUnit>> lus_;  // t1 LUN 0, 1, 2; t2 LUN 0
  std::vector<MemBackend*> backends_;
  std::unique_ptr<FakeOwner> owner_;
  Nexus nexus_[2];
  std::vector<std::unique_ptr<Command>> cmds_;
  int started_ = 0;
};

TEST_F(XcopyTest, CopiesBetweenLusAndWithinOneByteIdentical) {
  const auto data = Pattern(6000 * kBs, 3);  // several 1 MiB chunks
  backends_[0]->WriteBytes(100 * kBs, data.data(), data.size());
  auto p = ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])},
                     {Segment(0, 1, 6000, 100, 7), Segment(0, 0, 1000, 100, 10000)});
  ExpectGood(Xcopy(p));
  EXPECT_EQ(backends_[1]->ReadBytes(7 * kBs, data.size()), data);
  EXPECT_EQ(backends_[0]->ReadBytes(10000 * kBs, 1000 * kBs),
            std::vector<uint8_t>(data.begin(), data.begin() + 1000 * kBs));
  EXPECT_EQ(ActiveCopiesForTest(), 0);
  // The held status: completed, two segments, the bytes copied.
  Command* st = Run(RcrCdb(kSaCopyStatusLid1, 1));
  ExpectGood(st);
  ASSERT_EQ(st->data_in_length, 12u);
  EXPECT_EQ(GetBe32(st->data.data()), 8u);
  EXPECT_EQ(st->data.data()[4], 0x01);
  EXPECT_EQ(GetBe16(st->data.data() + 5), 2u);
  EXPECT_EQ(st->data.data()[7], 0);  // bytes
  EXPECT_EQ(GetBe32(st->data.data() + 8), 7000u * kBs);
}

// A source whose reads complete with MODTGT_STS_ZEROS (module ABI 1.6, the buffer not
// written): the copy writes real zeros.
TEST_F(XcopyTest, ASourceThatReadsAsZerosCopiesZeros) {
  lus_.push_back(AddLu(target_.get(), "iqn.2024-01.test:t1", 3, false, /*zero_reads=*/true));
  ClearUa(0, 3);
  const auto data = Pattern(3000 * kBs, 5);
  backends_[1]->WriteBytes(50 * kBs, data.data(), data.size());
  auto p = ParamList({TargetDescriptor(*lus_[4]), TargetDescriptor(*lus_[1])},
                     {Segment(0, 1, 3000, 100, 50)});
  ExpectGood(Xcopy(p));
  EXPECT_GE(backends_[4]->CountOps(IoOp::kRead), 1u);
  EXPECT_EQ(backends_[1]->ReadBytes(50 * kBs, data.size()),
            std::vector<uint8_t>(data.size(), 0));
}

TEST_F(XcopyTest, OverlappingCopyWithinAnLuIsAMove) {
  const auto data = Pattern(4000 * kBs, 5);
  backends_[0]->WriteBytes(0, data.data(), data.size());
  // Destination 1000 blocks above the source, overlapping: copied from the end.
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0])}, {Segment(0, 0, 4000, 0, 1000)})));
  EXPECT_EQ(backends_[0]->ReadBytes(1000 * kBs, data.size()), data);
  // And below it: from the start.
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0])}, {Segment(0, 0, 4000, 1000, 0)})));
  EXPECT_EQ(backends_[0]->ReadBytes(0, data.size()), data);
}

TEST_F(XcopyTest, AnotherTargetsLuIsUnreachableWithoutItsAcl) {
  backends_[3]->Fill(0, 64 * kBs, 0x77);
  const size_t writes_before = backends_[3]->CountOps(IoOp::kWrite);
  // No resolver: only the nexus's own target; no resolver admitting t2 either.
  for (bool with_resolver : {false, true}) {
    FakeResolver resolver;
    target_->resolver = with_resolver ? &resolver : nullptr;
    for (const auto& [src, dst] : {std::pair{0, 3}, std::pair{3, 0}}) {
      auto p = ParamList({TargetDescriptor(*lus_[src]), TargetDescriptor(*lus_[dst])},
                         {Segment(0, 1, 64, 0, 0)});
      ExpectCheck(Xcopy(p), kCopyAborted, 0x0d02);
    }
    EXPECT_EQ(resolver.calls, with_resolver ? 3 : 0);
    target_->resolver = nullptr;
  }
  EXPECT_EQ(backends_[3]->CountOps(IoOp::kWrite), writes_before);
  EXPECT_EQ(backends_[0]->CountOps(IoOp::kRead) + backends_[0]->CountOps(IoOp::kWrite), 0u);
  // A designator of no LU at all answers the same way.
  auto ghost = TargetDescriptor(*lus_[0]);
  ghost[20] ^= 0xff;
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0]), ghost}, {Segment(0, 1, 1, 0, 0)})),
              kCopyAborted, 0x0d02);
  target_->resolver = nullptr;
}

TEST_F(XcopyTest, AResolverThatAdmitsTheInitiatorReachesTheOtherTarget) {
  FakeResolver resolver;
  resolver.admitting.push_back(other_.get());
  target_->resolver = &resolver;
  const auto data = Pattern(64 * kBs, 9);
  backends_[0]->WriteBytes(0, data.data(), data.size());
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[3])},
                             {Segment(0, 1, 64, 0, 32)})));
  EXPECT_EQ(backends_[3]->ReadBytes(32 * kBs, data.size()), data);
  target_->resolver = nullptr;
}

TEST_F(XcopyTest, ParameterListChecks) {
  const auto t0 = TargetDescriptor(*lus_[0]);
  const auto seg = Segment(0, 0, 8, 0, 100);
  ExpectGood(Run(XcopyCdb(0)));  // PARAMETER LIST LENGTH 0: nothing to do
  auto p = ParamList({t0}, {seg});
  // Lists running past the parameter list.
  ExpectCheck(Run(XcopyCdb(16 + 31), std::vector<uint8_t>(p.begin(), p.begin() + 47)), kIllegal, 0x1a00);
  ExpectCheck(Run(XcopyCdb(16 + 32 + 27), std::vector<uint8_t>(p.begin(), p.begin() + 75)), kIllegal,
              0x1a00);
  ExpectCheck(Run(XcopyCdb(8), std::vector<uint8_t>(8)), kIllegal, 0x1a00);
  // Limits.
  std::vector<std::vector<uint8_t>> many_targets(kMaxCopyTargetDescriptors + 1, t0);
  ExpectCheck(Xcopy(ParamList(many_targets, {seg})), kIllegal, 0x2606);
  std::vector<std::vector<uint8_t>> many_segments(kMaxCopySegmentDescriptors + 1, seg);
  ExpectCheck(Xcopy(ParamList({t0}, many_segments)), kIllegal, 0x2608);
  std::vector<std::vector<uint8_t>> too_long(70, seg);
  ExpectCheck(Xcopy(ParamList(many_targets, too_long)), kIllegal, 0x1a00);
  // Descriptor types.
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0], 0xe0)}, {seg})), kIllegal, 0x2607);
  auto stream = Segment(0, 0, 0, 0, 0, 0x03);
  PutBe16(&stream[2], 0x10);
  stream.resize(20);
  ExpectCheck(Xcopy(ParamList({t0}, {stream})), kIllegal, 0x2609);
  // Header fields.
  auto inl = p;
  PutBe32(&inl[12], 4);
  inl.resize(inl.size() + 4);
  ExpectCheck(Xcopy(inl), kIllegal, 0x2600);
  auto usage1 = ParamList({t0}, {seg}, 1, 1);
  ExpectCheck(Xcopy(usage1), kIllegal, 0x2600);
  ExpectCheck(Xcopy(ParamList({t0}, {seg}, 5, kListIdUsageNone)), kIllegal, 0x2600);
  // Segments: a target index with no descriptor; ranges past the end (INFORMATION: the
  // copy target's capacity).
  ExpectCheck(Xcopy(ParamList({t0}, {Segment(0, 1, 8, 0, 100)})), kCopyAborted, 0x0d02);
  Command* eol = Xcopy(ParamList({t0}, {Segment(0, 0, 8, 0, kBlocks - 1)}));
  ExpectCheck(eol, kCopyAborted, 0x0000);
  EXPECT_EQ(eol->sense[0] & 0x80, 0x80);
  EXPECT_EQ(GetBe32(eol->sense + 3), kBlocks);
  // A wrong block length or device type.
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0], 0xe4, 4096)}, {seg})), kCopyAborted, 0x0d03);
  // LU ID TYPE and NUL are obsolete (SPC-4): ignored.
  auto obsolete = t0;
  obsolete[1] = 0x80 | 0x20;
  ExpectGood(Xcopy(ParamList({obsolete}, {seg})));
  EXPECT_EQ(backends_[0]->CountOps(IoOp::kWrite), 1u);  // only that last copy wrote
}

TEST_F(XcopyTest, CopyTargetsAreCheckedAsTheNexusWouldMeetThem) {
  auto ro = AddLu(target_.get(), "iqn.2024-01.test:t1", 5, /*readonly=*/true);
  ClearUa(0, 5);
  const auto seg = Segment(0, 1, 8, 0, 0);
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*ro)}, {seg})),
              kCopyAborted, 0x2700);
  // Reading a read-only LU is fine.
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*ro), TargetDescriptor(*lus_[0])}, {seg})));
  // Another nexus's reservation of the destination (SPC-2 RESERVE).
  ClearUa(1, 1);
  ExpectGood(Run({0x16, 0, 0, 0, 0, 0}, {}, 1, 1));
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])}, {seg})),
              kCopyAborted, 0x0d01);
  // The holder itself may copy into it.
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])}, {seg}), 1));
}

TEST_F(XcopyTest, CopyStatusOnlyForHeldLists) {
  ExpectCheck(Run(RcrCdb(kSaCopyStatusLid1, 7)), kIllegal, 0x2400);
  const auto seg = Segment(0, 0, 8, 0, 100);
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0])}, {seg}, 7, kListIdUsageDiscard)));
  ExpectCheck(Run(RcrCdb(kSaCopyStatusLid1, 7)), kIllegal, 0x2400);
  ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0])}, {seg}, 7, kListIdUsageHold)));
  ExpectGood(Run(RcrCdb(kSaCopyStatusLid1, 7)));
  // Per I_T nexus: the other one has none.
  ExpectCheck(Run(RcrCdb(kSaCopyStatusLid1, 7), {}, 1), kIllegal, 0x2400);
  // Held statuses are bounded.
  for (uint8_t id = 10; id < 10 + kMaxHeldCopyStatuses + 4; ++id) {
    ExpectGood(Xcopy(ParamList({TargetDescriptor(*lus_[0])}, {seg}, id)));
  }
  ExpectCheck(Run(RcrCdb(kSaCopyStatusLid1, 10)), kIllegal, 0x2400);  // the oldest, dropped
  ExpectGood(Run(RcrCdb(kSaCopyStatusLid1, 10 + kMaxHeldCopyStatuses + 3)));
}

TEST_F(XcopyTest, OperatingParameters) {
  Command* c = Run(RcrCdb(kSaOperatingParameters, 0));
  ExpectGood(c);
  const uint8_t* d = c->data.data();
  ASSERT_EQ(c->data_in_length, 46u);
  EXPECT_EQ(GetBe32(d), 42u);
  EXPECT_EQ(GetBe16(d + 8), kMaxCopyTargetDescriptors);
  EXPECT_EQ(GetBe16(d + 10), kMaxCopySegmentDescriptors);
  EXPECT_EQ(GetBe32(d + 12), kMaxCopyDescriptorListLength);
  EXPECT_EQ(GetBe32(d + 16), kMaxCopySegmentBytes);
  EXPECT_EQ(GetBe32(d + 20), 0u);  // no inline data
  EXPECT_EQ(GetBe16(d + 34), kMaxConcurrentCopies);
  EXPECT_EQ(d[37], 9);  // 512-byte blocks
  EXPECT_EQ(d[43], 2);
  EXPECT_EQ(d[44], 0x02);
  EXPECT_EQ(d[45], 0xe4);
}

TEST_F(XcopyTest, ThirdPartyCopyVpdAndInquiryBit) {
  Command* inq = Run({0x12, 0, 0, 0, 96, 0});
  ExpectGood(inq);
  EXPECT_EQ(inq->data.data()[5] & 0x08, 0x08);  // 3PC
  Command* c = Run({0x12, 1, 0x8f, 0x04, 0, 0});
  ExpectGood(c);
  std::vector<uint8_t> v(c->data.data(), c->data.data() + c->data_in_length);
  ASSERT_GE(v.size(), 4u);
  EXPECT_EQ(v[1], 0x8f);
  EXPECT_EQ(GetBe16(&v[2]) + 4u, v.size());
  std::map<uint16_t, std::vector<uint8_t>> descriptors;
  for (size_t off = 4; off + 4 <= v.size();) {
    const uint16_t len = GetBe16(&v[off + 2]);
    EXPECT_EQ(len % 4, 0u);
    descriptors[GetBe16(&v[off])] = std::vector<uint8_t>(v.begin() + off + 4, v.begin() + off + 4 + len);
    off += 4 + len;
  }
  ASSERT_EQ(descriptors.count(0x0001), 1u);
  EXPECT_EQ(descriptors[0x0001],
            (std::vector<uint8_t>{7, 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03}));
  ASSERT_EQ(descriptors.count(0x0004), 1u);
  EXPECT_EQ(GetBe16(&descriptors[0x0004][4]), kMaxCopyTargetDescriptors);
  EXPECT_EQ(descriptors[0x0008], (std::vector<uint8_t>{2, 0x02, 0xe4, 0}));
  ASSERT_EQ(descriptors.count(0x8001), 1u);
  EXPECT_EQ(GetBe32(&descriptors[0x8001][8]), kMaxCopySegmentBytes);
}

TEST_F(XcopyTest, AnAbortedCopyStopsAtTheNextChunk) {
  gate_.Close();
  auto p = ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])},
                     {Segment(0, 1, 8000, 0, 0)});
  Command* c = Start(XcopyCdb(static_cast<uint32_t>(p.size())), p);
  ASSERT_TRUE(gate_.WaitForArrivals(1));  // the first read is held
  EXPECT_EQ(ActiveCopiesForTest(), 1);
  // The list identifier is taken while it runs.
  Command* dup = NewCmd(XcopyCdb(static_cast<uint32_t>(p.size())), p, 0, 0);
  owner_->loop()->Post([dup] { Submit(dup); });
  ASSERT_TRUE(owner_->WaitForDone(started_ + 1));
  ExpectCheck(dup, kIllegal, 0x0016);
  c->aborted.store(true);
  gate_.Open();
  ASSERT_TRUE(owner_->WaitForDone(started_ + 2));
  EXPECT_EQ(c->status, Status::kTaskAborted);
  EXPECT_EQ(ActiveCopiesForTest(), 0);
  EXPECT_LE(backends_[1]->CountOps(IoOp::kWrite), 1u);  // at most the chunk under way
  Command* st = Run(RcrCdb(kSaCopyStatusLid1, 1));
  ExpectGood(st);
  EXPECT_EQ(st->data.data()[4], 0x02);  // completed with an error
}

TEST_F(XcopyTest, AnIoErrorAbortsTheCopyWithItsSense) {
  backends_[1]->FailNext(IoOp::kWrite, MODTGT_STS_WRITE_ERROR);
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])},
                              {Segment(0, 1, 64, 0, 0)})),
              kCopyAborted, 0x0c00);
  backends_[0]->FailNext(IoOp::kRead, MODTGT_STS_READ_ERROR);
  ExpectCheck(Xcopy(ParamList({TargetDescriptor(*lus_[0]), TargetDescriptor(*lus_[1])},
                              {Segment(0, 1, 64, 0, 0)}, 2)),
              kCopyAborted, 0x1100);
  EXPECT_EQ(ActiveCopiesForTest(), 0);
}

TEST_F(XcopyTest, AtMostKMaxConcurrentCopies) {
  gate_.Close();
  std::vector<Command*> running;
  const int before = owner_->done_count();
  for (int i = 0; i < kMaxConcurrentCopies; ++i) {
    auto p = ParamList({TargetDescriptor(*lus_[0])}, {Segment(0, 0, 8, 0, 100)},
                       static_cast<uint8_t>(i), kListIdUsageDiscard);
    running.push_back(Start(XcopyCdb(static_cast<uint32_t>(p.size())), p));
  }
  // All started (their reads queue behind the one the gate holds).
  ASSERT_TRUE(gate_.WaitForArrivals(1));
  SyncLoop();
  EXPECT_EQ(ActiveCopiesForTest(), kMaxConcurrentCopies);
  auto p = ParamList({TargetDescriptor(*lus_[0])}, {Segment(0, 0, 8, 0, 100)}, 200);
  Command* extra = NewCmd(XcopyCdb(static_cast<uint32_t>(p.size())), p, 0, 0);
  owner_->loop()->Post([extra] { Submit(extra); });
  ASSERT_TRUE(owner_->WaitForDone(before + 1));
  ExpectCheck(extra, kIllegal, 0x5503);
  gate_.Open();
  ASSERT_TRUE(owner_->WaitForDone(before + 1 + kMaxConcurrentCopies));
  for (Command* c : running) ExpectGood(c);
  EXPECT_EQ(ActiveCopiesForTest(), 0);
}

}  // namespace
}  // namespace modtgt::scsi
