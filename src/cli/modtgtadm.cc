// SPDX-License-Identifier: Apache-2.0
// modtgtadm: the admin CLI. Parses tgtadm-style options (cli/args.h), sends one JSON request
// line to modtgtd's Unix socket, reads one reply line, and prints the result (tgtadm-style
// text, or JSON with --json). Errors go to stderr as "modtgtadm: <message>" with the exit
// code of the error (admin/protocol.h). Started through a link named `tgtadm` it answers to
// that name (its messages say "tgtadm:"), for tools written for tgt (docs/tgt-compat.md).
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "admin/protocol.h"
#include "cli/args.h"
#include "cli/format.h"
#include "cli/tgt_conf.h"
#include "modtgt/version.h"

namespace {

using modtgt::admin::kExitBadReply;
using modtgt::admin::kExitCannotConnect;
using modtgt::admin::kExitUsage;

// LU creation may open large files or remote images: allow the daemon time to answer.
constexpr int kReplyTimeoutSec = 120;

// "modtgtadm", or "tgtadm" when started through that name.
std::string g_program = "modtgtadm";

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", g_program.c_str(), msg.c_str());
  return code;
}

// After --mode system --op delete: wait (at most 10 s) until the daemon stops answering,
// as tgtadm does, so `tgtadm --op delete --mode system && start-again` works.
void WaitForExit(const std::string& path) {
  for (int i = 0; i < 200; i++) {
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    close(fd);
    if (rc != 0) return;
    poll(nullptr, 0, 50);
  }
}

// Sends line and reads one reply line. Returns 0, or an exit code after printing the error.
int Exchange(const std::string& path, const std::string& line, std::string* reply) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return Fail(kExitUsage, "socket path too long: " + path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(kExitCannotConnect, std::string("socket: ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    std::string hint = (e == ENOENT || e == ECONNREFUSED) ? " (is modtgtd running?)" : "";
    return Fail(kExitCannotConnect,
                "cannot connect to modtgtd at " + path + ": " + std::strerror(e) + hint);
  }
  timeval tv{kReplyTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      // The daemon may answer (and close) before reading everything: a refusal of the
      // peer, or of an oversized request. Its reply is then waiting to be read.
      if (e == EPIPE || e == ECONNRESET) break;
      close(fd);
      return Fail(kExitCannotConnect, "sending to modtgtd at " + path + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return Fail(kExitBadReply, "reading the reply from modtgtd: " +
                                     std::string(e == EAGAIN ? "timed out" : std::strerror(e)));
    }
    if (n == 0) break;
    reply->append(buf, static_cast<size_t>(n));
    if (reply->find('\n') != std::string::npos) break;
    if (reply->size() > (64u << 20)) break;
  }
  close(fd);
  size_t nl = reply->find('\n');
  if (nl != std::string::npos) reply->resize(nl);
  if (reply->empty()) return Fail(kExitBadReply, "modtgtd closed the connection without a reply");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  modtgt::cli::CliContext cctx;
  cctx.env_socket = std::getenv("MODTGT_SOCKET");
  if (argc > 0 && argv[0] != nullptr) {
    std::string base = argv[0];
    base = base.substr(base.rfind('/') == std::string::npos ? 0 : base.rfind('/') + 1);
    if (base == "tgtadm") {
      cctx.as_tgtadm = true;
      g_program = "tgtadm";
    }
  }
  auto parsed = modtgt::cli::ParseArgs(args, cctx);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", g_program.c_str(),
                 parsed.status().message().c_str(), g_program.c_str());
    return parsed.status().code() == modtgt::Code::kUnsupported
               ? modtgt::admin::ErrorExitCode(modtgt::admin::ErrorCode::kUnsupported)
               : kExitUsage;
  }
  modtgt::cli::CliOptions& opts = parsed.value();
  if (opts.help) {
    std::fputs(modtgt::cli::UsageText().c_str(), stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("%s %s\n", g_program.c_str(), MODTGT_PACKAGE_VERSION);
    return 0;
  }
  if (!opts.import_tgt.empty()) {
    // The file and its includes are read here (the daemon may not see the caller's files)
    // and only parsed: nothing named in them is run.
    modtgt::cli::DiskConfSource src;
    auto tree = modtgt::cli::ParseTgtConf(opts.import_tgt, &src);
    if (!tree.ok()) return Fail(kExitUsage, tree.status().message());
    opts.request["tgt_conf"] = std::move(*tree);
  }

  // Relative paths are the caller's: make them absolute here (cli/args.h has the rule).
  std::vector<std::string> unresolved;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) != nullptr) {
    modtgt::cli::ResolveRelativePaths(
        &opts, cwd,
        [](const std::string& p) {
          struct stat st;
          return stat(p.c_str(), &st) == 0;
        },
        &unresolved);
  }

  if (opts.request.contains("password") && opts.request["password"] == "-") {
    // Keep the secret off the command line (and out of `ps`): read it from stdin.
    std::string line;
    int c;
    while ((c = std::fgetc(stdin)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    opts.request["password"] = line;
  }
  if (!opts.file.empty()) {
    // The daemon may not see the caller's files (another folder, a hardened service):
    // the configuration travels in the request.
    std::FILE* f = std::fopen(opts.file.c_str(), "rb");
    if (f == nullptr) return Fail(kExitUsage, "cannot read " + opts.file + ": " + std::strerror(errno));
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
      text.append(buf, n);
      if (text.size() > modtgt::admin::kMaxRequestBytes) break;
    }
    std::fclose(f);
    if (text.size() > modtgt::admin::kMaxRequestBytes) {
      return Fail(kExitUsage, opts.file + " is larger than an admin request may be");
    }
    opts.request["config_text"] = text;
  }
  // Arguments come straight from the command line; JSON needs UTF-8, so refuse anything
  // else here with a clear message instead of aborting in the serializer.
  std::string request_text;
  try {
    request_text = opts.request.dump();
  } catch (const nlohmann::json::exception&) {
    return Fail(kExitUsage, "an argument is not valid UTF-8 text");
  }
  if (request_text.size() > modtgt::admin::kMaxRequestBytes) {
    return Fail(kExitUsage, "the request is larger than the daemon takes (" +
                                std::to_string(modtgt::admin::kMaxRequestBytes) + " bytes)");
  }
  if (opts.debug) {
    // The request as sent (a password is shown as "*").
    nlohmann::json shown = opts.request;
    if (shown.contains("password")) shown["password"] = "*";
    std::fprintf(stderr, "%s: request to %s: %s\n", g_program.c_str(), opts.socket_path.c_str(),
                 shown.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  std::string reply_text;
  int rc = Exchange(opts.socket_path, request_text + "\n", &reply_text);
  if (rc != 0) return rc;
  nlohmann::json reply = nlohmann::json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok") ||
      !reply["ok"].is_boolean()) {
    return Fail(kExitBadReply, "modtgtd sent a reply that is not understood: " +
                                   reply_text.substr(0, 200));
  }
  if (!reply["ok"].get<bool>()) {
    const nlohmann::json& err = reply.contains("error") && reply["error"].is_object()
                                    ? reply["error"]
                                    : nlohmann::json::object();
    std::string msg = err.contains("message") && err["message"].is_string()
                          ? err["message"].get<std::string>()
                          : "request failed";
    int exit_code = 0;
    if (err.contains("exit") && err["exit"].is_number_integer()) {
      exit_code = err["exit"].get<int>();
    }
    if (exit_code <= 0 || exit_code > 125) {
      exit_code = modtgt::admin::ExitCodeForName(
          err.contains("code") && err["code"].is_string() ? err["code"].get<std::string>() : "");
    }
    Fail(exit_code, msg);
    for (const std::string& u : unresolved) {
      std::fprintf(stderr,
                   "%s: note: '%s' is not a file in this folder (%s), so it was sent as "
                   "given; modtgtd does not resolve relative paths against your folder\n",
                   g_program.c_str(), u.c_str(), cwd);
    }
    return exit_code;
  }
  if (reply.contains("warning") && reply["warning"].is_string()) {
    std::fprintf(stderr, "%s: warning: %s\n", g_program.c_str(),
                 reply["warning"].get<std::string>().c_str());
  }
  if (opts.request.value("mode", "") == "system" && opts.request.value("op", "") == "delete") {
    WaitForExit(opts.socket_path);
  }
  const nlohmann::json& result =
      reply.contains("result") ? reply["result"] : nlohmann::json::object();
  if (opts.json_output) {
    std::printf("%s\n", result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::string text = modtgt::cli::FormatResult(opts.request, result);
    // tgtadm prints nothing after a change: under its name, neither does this.
    const std::string op = opts.request.value("op", "");
    if (cctx.as_tgtadm && (op == "new" || op == "delete" || op == "bind" || op == "unbind" ||
                           op == "update" || op == "start" || op == "stop")) {
      text.clear();
    }
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}
