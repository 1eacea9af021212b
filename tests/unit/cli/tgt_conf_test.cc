// SPDX-License-Identifier: Apache-2.0
// cli/tgt_conf: targets.conf syntax as Config::General reads it for tgt-admin. The CLI is
// its own executable, so its sources compile in here.
#include "cli/tgt_conf.cc"  // NOLINT: the unit under test is not in a library

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>

namespace modtgt::cli {
namespace {

using nlohmann::json;

// Files from memory; a pattern with '*' matches the names with its prefix.
class MemSource : public ConfSource {
 public:
  std::map<std::string, std::string> files;
  Result<std::string> Read(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return Status::NotFound(path + ": no such file");
    return it->second;
  }
  Result<std::vector<std::string>> Expand(const std::string& pattern) override {
    std::vector<std::string> out;
    size_t star = pattern.find('*');
    for (const auto& [name, text] : files) {
      if (star == std::string::npos ? name == pattern
                                    : name.compare(0, star, pattern, 0, star) == 0) {
        out.push_back(name);
      }
    }
    return out;
  }
};

json Parse(const std::string& text, MemSource* src = nullptr) {
  MemSource none;
  auto r = ParseTgtConfText(text, "main.conf", src ? src : &none);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : json();
}

std::string Error(const std::string& text, MemSource* src = nullptr) {
  MemSource none;
  auto r = ParseTgtConfText(text, "main.conf", src ? src : &none);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? "" : r.status().message();
}

TEST(TgtConf, LinesBlocksCommentsQuotesContinuation) {
  json t = Parse(
      "# comment\n"
      "default-driver iscsi   # trailing comment\n"
      "\n"
      "<target iqn.2026-01.x:a>\n"
      "    backing-store /d/a.img\n"
      "    vendor_id My \\# Company\n"
      "    product_id = \"Quoted Name\"\n"
      "    params a=1,\\\n"
      "           b=2\n"
      "    <backing-store /d/b.img>\n"
      "        lun 3\n"
      "    </backing-store>\n"
      "</target>\n");
  const json& d = t["directives"];
  ASSERT_EQ(d.size(), 2u) << t.dump(2);
  EXPECT_EQ(d[0], (json{{"key", "default-driver"}, {"value", "iscsi"}, {"where", "main.conf:2"}}));
  EXPECT_EQ(d[1]["key"], "target");
  EXPECT_EQ(d[1]["value"], "iqn.2026-01.x:a");
  EXPECT_EQ(d[1]["where"], "main.conf:4");
  const json& b = d[1]["block"];
  ASSERT_EQ(b.size(), 5u) << b.dump(2);
  EXPECT_EQ(b[0]["value"], "/d/a.img");
  EXPECT_EQ(b[1]["value"], "My # Company");
  EXPECT_EQ(b[2]["key"], "product_id");
  EXPECT_EQ(b[2]["value"], "Quoted Name");
  EXPECT_EQ(b[3]["value"], "a=1,b=2");
  EXPECT_EQ(b[3]["where"], "main.conf:8");
  EXPECT_EQ(b[4]["key"], "backing-store");
  EXPECT_EQ(b[4]["block"][0], (json{{"key", "lun"}, {"value", "3"}, {"where", "main.conf:11"}}));
  // key=value and a key without a value.
  json kv = Parse("MaxRecvDataSegmentLength=8192\nkeyonly\n");
  EXPECT_EQ(kv["directives"][0]["value"], "8192");
  EXPECT_EQ(kv["directives"][1]["value"], "");
}

TEST(TgtConf, IncludesGlobsOptionalAndOnce) {
  MemSource src;
  src.files["conf.d/1.conf"] = "<target iqn.x:one>\n</target>\n";
  src.files["conf.d/2.conf"] = "include main.conf\n<target iqn.x:two>\n</target>\n";
  src.files["extra.conf"] = "ignore-errors yes\n";
  src.files["main.conf"] = "never read again\n";
  json t = Parse(
      "include conf.d/*.conf\nInclude \"extra.conf\"\nincludeoptional nothere.conf\n"
      "include nomatch/*.conf\n",
      &src);
  const json& d = t["directives"];
  ASSERT_EQ(d.size(), 3u) << t.dump(2);
  EXPECT_EQ(d[0]["where"], "conf.d/1.conf:1");
  EXPECT_EQ(d[1]["where"], "conf.d/2.conf:2");  // main.conf is not read twice
  EXPECT_EQ(d[2]["key"], "ignore-errors");
  EXPECT_NE(
      Error("include missing.conf\n", &src).find("main.conf:1: include missing.conf: no such file"),
      std::string::npos);
}

TEST(TgtConf, SyntaxErrorsNameThePlace) {
  EXPECT_EQ(Error("<target iqn.x:a>\n  lun 1\n"),
            "main.conf:1: <target> is never closed (no </target>)");
  EXPECT_EQ(Error("</target>\n"), "main.conf:1: </target> closes no block");
  EXPECT_EQ(Error("<target a>\n</backing-store>\n"),
            "main.conf:2: </backing-store> closes <target> opened at main.conf:1");
  EXPECT_NE(Error("<target a\n").find("main.conf:1: a block tag must end with '>'"),
            std::string::npos);
  EXPECT_NE(Error("<target a/>\n").find("empty blocks"), std::string::npos);
  EXPECT_NE(Error("params <<EOF\nx\nEOF\n").find("here-documents"), std::string::npos);
  EXPECT_NE(Error(std::string("a b\0c", 5)).find("NUL"), std::string::npos);
  // Latin-1 bytes (a file saved in another encoding): refused with the line, never sent on.
  EXPECT_EQ(Error("<target iqn.x:a>\n  initiator-name iqn.1993-08.o\x8e\x98n:01\n</target>\n"),
            "main.conf:2: not UTF-8 text");
  std::string deep;
  for (int i = 0; i < 10; i++) deep += "<b x>\n";
  EXPECT_NE(Error(deep).find("nested more than 8 deep"), std::string::npos);
  MemSource loop;
  loop.files["a.conf"] = "include b.conf\n";
  loop.files["b.conf"] = "include a.conf\n";
  // Each file once: the loop ends by itself.
  auto r = ParseTgtConfText("include a.conf\n", "main.conf", &loop);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(TgtConf, DiskSourceReadsGlobsAndFolders) {
  char tmpl[] = "/tmp/modtgt-tgtconf-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
  };
  ASSERT_EQ(mkdir((dir + "/d").c_str(), 0755), 0);
  write("d/b.conf", "b 2\n");
  write("d/a.conf", "a 1\n");
  write("main.conf", "include " + dir + "/d\ninclude " + dir + "/d/*.conf\n");
  DiskConfSource src;
  auto r = ParseTgtConf(dir + "/main.conf", &src);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& d = (*r)["directives"];
  ASSERT_EQ(d.size(), 2u) << r->dump(2);  // the folder's files in ASCII order, each once
  EXPECT_EQ(d[0]["key"], "a");
  EXPECT_EQ(d[1]["key"], "b");
  EXPECT_EQ(ParseTgtConf(dir + "/none.conf", &src).status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace modtgt::cli
