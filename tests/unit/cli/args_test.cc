// SPDX-License-Identifier: Apache-2.0
// modtgtadm's parser. The CLI is its own executable, so its sources compile in here.
#include "cli/args.cc"  // NOLINT: the unit under test is not in a library

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace modtgt::cli {
namespace {

using nlohmann::json;

Result<CliOptions> Parse(std::vector<std::string> args, const char* env = nullptr) {
  return ParseArgs(args, env);
}

TEST(CliArgs, TargetNewLongAndShortForms) {
  auto a = Parse({"--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1",
                  "--targetname", "iqn.2026-11.org.x:t"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request, (json{{"lld", "iscsi"},
                              {"mode", "target"},
                              {"op", "new"},
                              {"tid", 1},
                              {"targetname", "iqn.2026-11.org.x:t"}}));
  auto b = Parse({"-m", "target", "-o", "new", "-t1", "-T", "iqn.2026-11.org.x:t"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->request, b->request);  // lld defaults to iscsi
  auto c = Parse({"--mode=Target", "--op=NEW", "--tid=1", "--targetname=iqn.2026-11.org.x:t"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(a->request, c->request);
  EXPECT_EQ(a->socket_path, "/run/modtgt/modtgtd.sock");
  EXPECT_FALSE(a->json_output);
}

TEST(CliArgs, LogicalUnitNewWithEverything) {
  auto a = Parse({"-m", "logicalunit", "-o", "new", "-t", "2", "-l", "3", "-b", "/srv/d.img",
                  "-E", "null", "-S", "size=1G", "-f", "direct", "-y", "4096", "-P",
                  "readonly=1,vendor_id=ACME", "--json", "--socket", "/tmp/s.sock"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request, (json{{"lld", "iscsi"},
                              {"mode", "logicalunit"},
                              {"op", "new"},
                              {"tid", 2},
                              {"lun", 3},
                              {"backing_store", "/srv/d.img"},
                              {"bstype", "null"},
                              {"bsopts", "size=1G"},
                              {"bsoflags", "direct"},
                              {"blocksize", 4096},
                              {"params", {{"readonly", "1"}, {"vendor_id", "ACME"}}}}));
  EXPECT_TRUE(a->json_output);
  EXPECT_EQ(a->socket_path, "/tmp/s.sock");
}

TEST(CliArgs, BindForceAndSocketFromEnv) {
  auto a = Parse({"--mode", "target", "--op", "bind", "--tid", "1", "--initiator-address", "ALL",
                  "-Q", "iqn.2026-11.org.c:1"},
                 "/env/sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->request["initiator_address"], "ALL");
  EXPECT_EQ(a->request["initiator_name"], "iqn.2026-11.org.c:1");
  EXPECT_EQ(a->socket_path, "/env/sock");
  auto b = Parse({"--mode", "target", "--op", "delete", "--tid", "1", "-F", "--socket", "/x"},
                 "/env/sock");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->request["force"], true);
  EXPECT_EQ(b->socket_path, "/x");
}

TEST(CliArgs, HelpNeedsNothingElse) {
  auto a = Parse({"--help"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->help);
  EXPECT_NE(UsageText().find("--backing-store"), std::string::npos);
}

TEST(CliArgs, Errors) {
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  };
  const Case cases[] = {
      {{}, "--mode"},
      {{"--mode", "target"}, "--op"},
      {{"--mode", "target", "--op", "new", "--tid", "x", "--targetname", "a"}, "--tid"},
      {{"--mode", "target", "--op", "new", "--tid", "1"}, "--targetname"},
      {{"--mode", "target", "--op", "new", "--targetname", "a"}, "--tid"},
      {{"--mode", "target", "--op", "delete"}, "--tid"},
      {{"--mode", "target", "--op", "bind", "--tid", "1"}, "--initiator"},
      {{"--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "1"}, "--backing-store"},
      {{"--mode", "logicalunit", "--op", "new", "--tid", "1", "-b", "x"}, "--lun"},
      {{"--mode", "logicalunit", "--op", "update", "--tid", "1", "--lun", "1"}, "--params"},
      {{"--mode", "logicalunit", "--op", "show"}, "--tid"},
      {{"--lld", "iser", "--mode", "system", "--op", "show"}, "iscsi"},
      {{"--mode", "system", "--op", "show", "--bogus"}, "--bogus"},
      {{"--mode", "system", "--op", "show", "-Z"}, "-Z"},
      {{"--mode", "system", "--op", "show", "stray"}, "stray"},
      {{"--mode", "system", "--op"}, "--op"},
      {{"--mode", "system", "--mode", "target", "--op", "show"}, "twice"},
      {{"--mode", "system", "--op", "show", "--json=yes"}, "--json"},
      {{"-m", "logicalunit", "-o", "update", "-t", "1", "-l", "1", "-P", "readonly"}, "readonly"},
      {{"-m", "logicalunit", "-o", "update", "-t", "1", "-l", "1", "-P", "a=1,a=2"}, "twice"},
      {{"--mode", "system", "--op", "show", "--socket", ""}, "--socket"},
      {{"--mode", "target", "--op", "show", "--tid", "99999999999999999999"}, "--tid"},
  };
  for (const auto& c : cases) {
    auto r = ParseArgs(c.args, nullptr);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    ASSERT_FALSE(r.ok()) << joined;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << joined << "-> " << r.status().message();
  }
}

TEST(CliArgs, ModuleOpsTakeBstypeOrPath) {
  auto a = Parse({"--mode", "system", "--op", "bsreload", "--bstype", "rdwr", "--path",
                  "/opt/bs_rdwr.so"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request, (json{{"lld", "iscsi"},
                              {"mode", "system"},
                              {"op", "bsreload"},
                              {"bstype", "rdwr"},
                              {"path", "/opt/bs_rdwr.so"}}));
  auto b = Parse({"--mode", "system", "--op", "bsload", "--path", "/opt/bs_x.so"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request["path"], "/opt/bs_x.so");
  auto c = Parse({"--mode", "system", "--op", "bsload", "--bstype", "/opt/bs_x.so"});
  ASSERT_TRUE(c.ok());
  for (const char* op : {"bsload", "bsunload", "bsreload"}) {
    auto r = Parse({"--mode", "system", "--op", op});
    ASSERT_FALSE(r.ok()) << op;
    EXPECT_NE(r.status().message().find("--bstype is required"), std::string::npos)
        << r.status().message();
  }
  auto d = Parse({"--mode", "system", "--op", "bsreload", "--path", "/opt/bs_x.so"});
  ASSERT_FALSE(d.ok());
  auto e = Parse({"--mode", "system", "--op", "bsunload", "--bstype", "x", "--path", "/a"});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--path"), std::string::npos);
}


TEST(CliArgs, TargetcliStyleLogicalUnit) {
  auto a = Parse({"--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "2", "--bstype",
                  "ram", "--cfgstring", "ram/x", "--size", "64M", "--wwn", "WWN-1",
                  "--hw-max-sectors", "256", "--control", "max_data_area_mb=8,hw_block_size=4096",
                  "--device-type", "disk"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request, (json{{"lld", "iscsi"},
                              {"mode", "logicalunit"},
                              {"op", "new"},
                              {"tid", 1},
                              {"lun", 2},
                              {"bstype", "ram"},
                              {"cfgstring", "ram/x"},
                              {"size", "64M"},
                              {"wwn", "WWN-1"},
                              {"hw_max_sectors", 256},
                              {"control", {{"max_data_area_mb", "8"}, {"hw_block_size", "4096"}}},
                              {"device_type", "disk"}}));
  // check takes the same arguments; bstype may be omitted.
  auto c = Parse({"--mode", "logicalunit", "--op", "check", "--tid", "1", "--lun", "2",
                  "--cfgstring", "rdwr//srv/missing.img"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->request["op"], "check");
  EXPECT_FALSE(c->request.contains("bstype"));
  // update --size alone; eject/load.
  auto u = Parse({"--mode", "logicalunit", "--op", "update", "--tid", "1", "--lun", "2", "--size",
                  "128M"});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->request["size"], "128M");
  auto e = Parse({"--mode", "logicalunit", "--op", "eject", "--tid", "1", "--lun", "2", "--force"});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->request["force"], true);
  auto l = Parse({"--mode", "logicalunit", "--op", "load", "--tid", "1", "--lun", "2",
                  "--cfgstring", "optical//srv/b.iso"});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->request["cfgstring"], "optical//srv/b.iso");
  EXPECT_NE(UsageText().find("--cfgstring"), std::string::npos);
  EXPECT_NE(UsageText().find("--hw-max-sectors"), std::string::npos);
}

TEST(CliArgs, TargetcliStyleErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  };
  const std::vector<std::string> lu = {"--mode", "logicalunit", "--tid", "1", "--lun", "1"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> v = lu;
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  const Case cases[] = {
      {with({"--op", "new", "-b", "/x", "--cfgstring", "ram/x"}), "not both"},
      {with({"--op", "check"}), "--cfgstring"},
      {with({"--op", "new", "--cfgstring", "ram/x", "--hw-max-sectors", "many"}),
       "--hw-max-sectors"},
      {with({"--op", "new", "--cfgstring", "ram/x", "--control", "hw_block_size"}), "--control"},
      {with({"--op", "new", "--cfgstring", "ram/x", "--control", "a=1,a=2"}), "twice"},
      {with({"--op", "new", "--cfgstring", "ram/x", "--size", "1M", "--size", "2M"}), "twice"},
      {with({"--op", "update"}), "--size"},
      {{"--mode", "logicalunit", "--op", "eject", "--tid", "1"}, "--lun"},
  };
  for (const auto& c : cases) {
    auto r = ParseArgs(c.args, nullptr);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    ASSERT_FALSE(r.ok()) << joined;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << joined << "-> " << r.status().message();
  }
}

TEST(CliArgs, TgtadmModeAbbreviationsAndOps) {
  const std::pair<const char*, const char*> modes[] = {
      {"sys", "system"},      {"system", "system"},     {"tgt", "target"},
      {"lu", "logicalunit"},  {"pt", "portal"},         {"portal", "portal"},
      {"sess", "session"},    {"session", "session"},   {"conn", "conn"},
      {"connection", "conn"}, {"account", "account"},   {"lld", "lld"}};
  for (const auto& [given, want] : modes) {
    auto a = Parse({"--mode", given, "--op", "show", "--tid", "1"});
    ASSERT_TRUE(a.ok()) << given << ": " << a.status().ToString();
    EXPECT_EQ(a->request["mode"], want) << given;
  }
  auto st = Parse({"-m", "tgt", "-o", "stat", "-t", "1"});
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->request["op"], "stat");
  auto ls = Parse({"-m", "lld", "-o", "start", "-L", "iscsi"});
  ASSERT_TRUE(ls.ok()) << ls.status().ToString();
  EXPECT_EQ(ls->request, (json{{"lld", "iscsi"}, {"mode", "lld"}, {"op", "start"}}));
}

TEST(CliArgs, TgtadmLongOptionPrefixes) {
  // getopt_long: an unambiguous prefix is the option. tgtadm's own options win a tie with
  // modtgt's longer list (--s is tgtadm's --sid, not --size/--socket).
  auto a = Parse({"--mod", "portal", "--op", "new", "--param", "portal=127.0.0.1:3261"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request["portal"], "127.0.0.1:3261");
  auto b = Parse({"--mode", "conn", "--op", "delete", "--ti", "1", "--s", "3", "--ci", "0"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request["sid"], 3);
  EXPECT_EQ(b->request["cid"], 0);
  auto c = Parse({"--mode", "lu", "--op", "new", "--tid", "1", "--lun", "1", "--back", "/x",
                  "--device", "cd"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->request["backing_store"], "/x");
  EXPECT_EQ(c->request["device_type"], "cd");
  for (const char* amb : {"--b", "--o"}) {  // ambiguous for tgtadm too
    auto d = Parse({"--mode", "system", "--op", "show", amb, "x"});
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("ambiguous"), std::string::npos) << d.status().message();
  }
}

TEST(CliArgs, TargetUpdateNameValueAndParams) {
  auto a = Parse({"--mode", "target", "--op", "update", "--tid", "1", "--name",
                  "MaxRecvDataSegmentLength", "--value", "65536"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request, (json{{"lld", "iscsi"},
                              {"mode", "target"},
                              {"op", "update"},
                              {"tid", 1},
                              {"name", "MaxRecvDataSegmentLength"},
                              {"value", "65536"}}));
  auto b = Parse({"-m", "target", "-o", "update", "-t", "1", "-n", "HeaderDigest", "-v", "CRC32C"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request["name"], "HeaderDigest");
  auto c = Parse({"-m", "target", "-o", "update", "-t", "1", "-P", "InitialR2T=Yes,state=offline"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->request["params"], (json{{"InitialR2T", "Yes"}, {"state", "offline"}}));
  auto d = Parse({"-m", "target", "-o", "update", "-t", "1", "-n", "HeaderDigest"});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("--value"), std::string::npos);
  auto e = Parse({"-m", "sys", "-o", "update", "-n", "State", "-v", "offline"});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->request["mode"], "system");
}

TEST(CliArgs, TgtadmQuirksAndControlPort) {
  // tgtadm's -F and -O take a (ignored) argument in short form; a bare one works too.
  auto a = Parse({"-m", "target", "-o", "delete", "-t", "1", "-F", "1"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request["force"], true);
  auto b = Parse({"-m", "account", "-o", "bind", "-t", "2", "-u", "bob", "-O1"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request["outgoing"], true);
  // account bind without --tid: the discovery binding (tid 0), as tgtadm's GLOBAL_TID.
  auto c = Parse({"--mode", "account", "--op", "bind", "--user=bob"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->request["tid"], 0);
  // -C N: the socket with ".N"; -C 0 the socket itself; --socket wins.
  auto d = Parse({"-C", "0", "--mode", "system", "--op", "show"}, "/run/x.sock");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->socket_path, "/run/x.sock");
  auto e = Parse({"-C", "7", "--mode", "system", "--op", "show"}, "/run/x.sock");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->socket_path, "/run/x.sock.7");
  auto f = Parse({"--control-port=7", "--socket", "/s", "--mode", "system", "--op", "show"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->socket_path, "/s");
  auto g = Parse({"-C", "70000", "--mode", "system", "--op", "show"});
  ASSERT_FALSE(g.ok());
  // --bus / --host: tgt's SCSI-host LLDs.
  auto h = Parse({"-m", "target", "-o", "bind", "-t", "1", "--bus", "pci,0000:00:01.0"});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kUnsupported);
  // Under the tgtadm name a repeated option keeps its last value (tgt-admin's --offline
  // by name passes --name twice); modtgtadm refuses it.
  std::vector<std::string> twice = {"--op", "update", "--mode", "target", "--tid=1",
                                    "--name=iqn.x", "-n", "state", "-v", "offline"};
  CliContext as_tgtadm;
  as_tgtadm.as_tgtadm = true;
  auto i = ParseArgs(twice, as_tgtadm);
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  EXPECT_EQ(i->request["name"], "state");
  EXPECT_FALSE(Parse(twice).ok());
  // -d prints the request; -V the version.
  auto j = Parse({"-d", "-m", "system", "-o", "show"});
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->debug);
}

TEST(CliArgs, ImportTgt) {
  auto a = Parse({"--import-tgt", "/etc/tgt/targets.conf", "--dry-run"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->import_tgt, "/etc/tgt/targets.conf");
  EXPECT_EQ(a->request, (json{{"mode", "system"}, {"op", "import"}, {"dry_run", true}}));
  auto b = Parse({"--import-tgt", "x.conf", "--tid", "1"});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("--import-tgt"), std::string::npos);
}

TEST(CliArgs, ConnAndPortalRequired) {
  EXPECT_FALSE(Parse({"--mode", "conn", "--op", "delete", "--tid", "1", "--sid", "2"}).ok());
  EXPECT_FALSE(Parse({"--mode", "portal", "--op", "delete"}).ok());
  auto a = Parse({"--mode", "portal", "--op", "delete", "--params", "portal=127.0.0.1:3260"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->request["portal"], "127.0.0.1:3260");
  EXPECT_FALSE(a->request.contains("params"));
  auto b = Parse({"-P", "portal=[::1]:3260", "-m", "pt", "-o", "new"});  // -P before --mode
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request["portal"], "[::1]:3260");
}

// The caller's folder is /home/u/work; these exist there: disk.img, isos/a.iso, bs_x.so,
// and the folder itself.
struct FakeFs {
  std::set<std::string> files = {"/home/u/work", "/home/u/work/disk.img",
                                 "/home/u/work/isos/a.iso", "/home/u/work/bs_x.so"};
  std::vector<std::string> asked;
  std::function<bool(const std::string&)> Exists() {
    return [this](const std::string& p) {
      asked.push_back(p);
      return files.count(p) != 0;
    };
  }
};

json Resolved(std::vector<std::string> args, std::vector<std::string>* unresolved = nullptr,
              FakeFs* fs = nullptr, const std::string& cwd = "/home/u/work") {
  auto a = ParseArgs(args, nullptr);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  FakeFs local;
  std::vector<std::string> un;
  ResolveRelativePaths(&a.value(), cwd, (fs ? fs : &local)->Exists(), unresolved ? unresolved : &un);
  return a->request;
}

TEST(CliArgs, RelativeBackingStoreBecomesAbsoluteWhenItExists) {
  const std::vector<std::string> lu = {"--mode", "logicalunit", "--op", "new", "--tid", "1",
                                       "--lun", "1"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> v = lu;
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  EXPECT_EQ(Resolved(with({"-b", "disk.img"}))["backing_store"], "/home/u/work/disk.img");
  EXPECT_EQ(Resolved(with({"-b", "./disk.img"}))["backing_store"], "/home/u/work/disk.img");
  EXPECT_EQ(Resolved(with({"-b", "isos/a.iso"}))["backing_store"], "/home/u/work/isos/a.iso");
  EXPECT_EQ(Resolved(with({"-b", "/srv/d.img"}))["backing_store"], "/srv/d.img");
  // From the root folder: no double slash.
  FakeFs root;
  root.files = {"/disk.img"};
  EXPECT_EQ(Resolved(with({"-b", "disk.img"}), nullptr, &root, "/")["backing_store"], "/disk.img");

  // Names that are not files here stay names (bs_null's null0, an RBD pool/image), and
  // are reported so the CLI can explain a "No such file" answer.
  std::vector<std::string> un;
  EXPECT_EQ(Resolved(with({"-E", "null", "-b", "null0"}), &un)["backing_store"], "null0");
  EXPECT_EQ(Resolved(with({"-E", "rbd", "-b", "rbd/img"}), &un)["backing_store"], "rbd/img");
  EXPECT_EQ(Resolved(with({"-b", "typo.img"}), &un)["backing_store"], "typo.img");
  EXPECT_EQ(un, (std::vector<std::string>{"null0", "rbd/img", "typo.img"}));
  // Absolute values are never looked up.
  FakeFs fs;
  Resolved(with({"-b", "/srv/d.img"}), nullptr, &fs);
  EXPECT_TRUE(fs.asked.empty());
}

TEST(CliArgs, RelativeCfgstringPathBecomesAbsoluteWhenItExists) {
  const std::vector<std::string> lu = {"--mode", "logicalunit", "--tid", "1", "--lun", "1"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> v = lu;
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  // SUBTYPE/CONFIG: only CONFIG is a path.
  EXPECT_EQ(Resolved(with({"--op", "new", "--cfgstring", "rdwr/disk.img"}))["cfgstring"],
            "rdwr//home/u/work/disk.img");
  EXPECT_EQ(Resolved(with({"--op", "check", "--cfgstring", "rdwr/./disk.img"}))["cfgstring"],
            "rdwr//home/u/work/disk.img");
  EXPECT_EQ(Resolved(with({"--op", "load", "--cfgstring", "optical/isos/a.iso"}))["cfgstring"],
            "optical//home/u/work/isos/a.iso");
  EXPECT_EQ(Resolved(with({"--op", "new", "--cfgstring", "rdwr//srv/d.img"}))["cfgstring"],
            "rdwr//srv/d.img");
  // ram/scratch: "scratch" is a name, not a file here.
  std::vector<std::string> un;
  EXPECT_EQ(Resolved(with({"--op", "new", "--cfgstring", "ram/scratch", "--size", "1M"}),
                     &un)["cfgstring"],
            "ram/scratch");
  EXPECT_EQ(un, (std::vector<std::string>{"scratch"}));
  // A subtype alone, or a SUBTYPE/ with nothing after it, is left to the daemon to judge.
  FakeFs fs;
  EXPECT_EQ(Resolved(with({"--op", "new", "--cfgstring", "disk.img"}), nullptr, &fs)["cfgstring"],
            "disk.img");
  EXPECT_EQ(Resolved(with({"--op", "new", "--cfgstring", "rdwr/"}), nullptr, &fs)["cfgstring"],
            "rdwr/");
  EXPECT_TRUE(fs.asked.empty());
}

TEST(CliArgs, RelativeModulePathBecomesAbsoluteWhenItExists) {
  EXPECT_EQ(Resolved({"--mode", "system", "--op", "bsload", "--path", "bs_x.so"})["path"],
            "/home/u/work/bs_x.so");
  EXPECT_EQ(Resolved({"--mode", "system", "--op", "bsload", "--bstype", "./bs_x.so"})["bstype"],
            "/home/u/work/bs_x.so");
  // A module name is not a path.
  FakeFs fs;
  EXPECT_EQ(Resolved({"--mode", "system", "--op", "bsload", "--bstype", "rdwr"}, nullptr,
                     &fs)["bstype"],
            "rdwr");
  EXPECT_TRUE(fs.asked.empty());
  // A missing file stays relative: the daemon refuses it ("must be absolute").
  EXPECT_EQ(Resolved({"--mode", "system", "--op", "bsreload", "--bstype", "x", "--path",
                      "nope.so"})["path"],
            "nope.so");
}

}  // namespace
}  // namespace modtgt::cli
