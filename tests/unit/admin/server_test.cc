// SPDX-License-Identifier: Apache-2.0
// AdminServer over a real Unix socket in a temp dir.
#include "admin/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "admin/protocol.h"
#include "core/module_registry.h"
#include "core/target.h"

namespace modtgt::admin {
namespace {

using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-admin-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/sub/dir/modtgtd.sock";
    AdminContext ctx;
    ctx.targets = &targets_;
    ctx.modules = &modules_;
    ctx.version = "t";
    server_ = std::make_unique<AdminServer>(ctx);
  }
  void TearDown() override {
    if (thread_.joinable()) {
      server_->Stop();
      thread_.join();
    }
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Start() {
    Status s = server_->Listen(path_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    thread_ = std::thread([this] { server_->Run(); });
  }

  int Connect() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }

  // Sends raw bytes, returns the reply line parsed (discarded json on garbage).
  json Send(const std::string& bytes, bool close_write = false) {
    int fd = Connect();
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may stop reading an oversized request
      off += static_cast<size_t>(n);
    }
    if (close_write) shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    close(fd);
    size_t nl = reply.find('\n');
    EXPECT_NE(nl, std::string::npos) << "reply not newline-terminated: " << reply;
    return json::parse(reply.substr(0, nl), nullptr, false);
  }

  std::string dir_, path_;
  core::TargetRegistry targets_;
  core::ModuleRegistry modules_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
};

TEST_F(ServerTest, CreatesPrivateSocketAndServesRequests) {
  Start();
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The folders it made for the socket are private.
  for (const std::string& d : {dir_ + "/sub", dir_ + "/sub/dir"}) {
    ASSERT_EQ(stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
  }
  json r = Send(R"({"mode":"target","op":"new","tid":1,"targetname":"iqn.2026-11.org.t:a"})"
                "\n");
  EXPECT_EQ(r["ok"], true) << r.dump();
  EXPECT_NE(targets_.FindByTid(1), nullptr);
  r = Send("{\"mode\":\"system\",\"op\":\"show\"}\r\n");
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["result"]["targets"].size(), 1u);
  // A last line without newline, then EOF, is still a request.
  r = Send(R"({"mode":"portal","op":"show"})", /*close_write=*/true);
  EXPECT_EQ(r["ok"], true);
}

TEST_F(ServerTest, GarbageGetsErrorRepliesAndServerKeepsServing) {
  Start();
  const std::vector<std::string> payloads = {
       "this is not json\n", "[1,2,3]\n", "{\"mode\": 5}\n",
        "{\"mode\":\"target\",\"op\":\"new\",\"tid\":\"x\"}\n", "\n", "{\"mode\":\"\xff\"}\n",
        std::string("{\"a\":\0}\n", 8)};
  for (const std::string& payload : payloads) {
    json r = Send(payload);
    ASSERT_FALSE(r.is_discarded()) << payload;
    EXPECT_EQ(r["ok"], false) << payload;
    EXPECT_EQ(r["error"]["code"], "invalid-request") << payload;
  }
  json r = Send(std::string(kMaxRequestBytes + 10, 'x') + "\n");
  EXPECT_EQ(r["error"]["code"], "invalid-request");
  EXPECT_NE(r["error"]["message"].get<std::string>().find("larger"), std::string::npos);
  r = Send("{\"mode\":\"system\",\"op\":\"show\"}\n");
  EXPECT_EQ(r["ok"], true);
}

// Clients that connect and say nothing, or send half a line and stall, delay nobody: a
// request from another client is answered at once (well under a second), and the idle ones
// are dropped at their deadline.
TEST_F(ServerTest, IdleAndSlowClientsDoNotDelayOthers) {
  Start();
  std::vector<int> idle;
  for (int i = 0; i < 50; i++) idle.push_back(Connect());
  for (int i = 0; i < 10; i++) {
    int fd = Connect();
    ASSERT_EQ(send(fd, "{\"mode\":", 8, MSG_NOSIGNAL), 8);
    idle.push_back(fd);
  }
  for (int round = 0; round < 5; round++) {
    auto start = std::chrono::steady_clock::now();
    json r = Send("{\"mode\":\"system\",\"op\":\"show\"}\n");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    EXPECT_EQ(r["ok"], true);
    EXPECT_LT(ms, 1000) << "a request waited behind idle clients";
  }
  for (int fd : idle) close(fd);
}

TEST_F(ServerTest, ADuplicateKeyIsRefusedNotResolvedByTheLastValue) {
  Start();
  json r = Send("{\"mode\":\"target\",\"op\":\"new\",\"tid\":1,\"tid\":2,"
                "\"targetname\":\"iqn.2026-12.org.modtgt.test:dup\"}\n");
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"]["code"], "invalid-request");
  EXPECT_NE(r["error"]["message"].get<std::string>().find("duplicate key \"tid\""),
            std::string::npos)
      << r.dump();
}

TEST_F(ServerTest, ReplacesAStaleSocketButNotOtherFiles) {
  std::filesystem::create_directories(dir_ + "/sub/dir");
  // A stale socket: bound, then its listener closed.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(fd);
  Start();
  EXPECT_EQ(Send("{\"mode\":\"system\",\"op\":\"show\"}\n")["ok"], true);

  // A second server on the live socket is refused.
  AdminContext ctx;
  ctx.targets = &targets_;
  AdminServer other(ctx);
  EXPECT_EQ(other.Listen(path_).code(), Code::kBusy);

  // A regular file in the way is not removed.
  std::string file = dir_ + "/plain";
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_FALSE(other.Listen(file).ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
  EXPECT_FALSE(other.Listen("").ok());
  EXPECT_FALSE(other.Listen(dir_ + "/" + std::string(200, 'n')).ok());
}

// SO_PEERCRED: a user other than root and the daemon's own is refused, even when the
// socket's mode lets it connect.
TEST_F(ServerTest, RefusesOtherUsers) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  Start();
  // Open every layer of protection but the credential check itself.
  ASSERT_EQ(chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod((dir_ + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(chmod((dir_ + "/sub/dir").c_str(), 0755), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) _exit(4);
    const char req[] = "{\"mode\":\"target\",\"op\":\"new\",\"tid\":5,"
                       "\"targetname\":\"iqn.2026-11.org.t:evil\"}\n";
    // The server may refuse (and close) before reading: a failed send is fine.
    ssize_t sent = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
    (void)sent;
    char buf[4096] = {};
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    _exit(n > 0 && std::strstr(buf, "\"permission\"") != nullptr ? 0 : 6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(targets_.FindByTid(5), nullptr);
}

TEST_F(ServerTest, StopEndsRun) {
  Start();
  server_->Stop();
  thread_.join();
  SUCCEED();
}

}  // namespace
}  // namespace modtgt::admin
