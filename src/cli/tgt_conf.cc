// SPDX-License-Identifier: Apache-2.0
// targets.conf syntax. See tgt_conf.h.
#include "cli/tgt_conf.h"

#include <dirent.h>
#include <glob.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace modtgt::cli {

namespace {

using nlohmann::json;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) b++;
  while (e > b && IsSpace(s[e - 1])) e--;
  return s.substr(b, e - b);
}

// Drops an unescaped '#' and what follows; "\#" becomes '#'.
// The parsed tree travels as JSON, which holds only UTF-8 text: nlohmann's serializer is
// the check (it throws on an ill-formed sequence).
bool IsUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string StripComment(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); i++) {
    if (line[i] == '#') {
      if (i > 0 && line[i - 1] == '\\') {
        out.back() = '#';
        continue;
      }
      break;
    }
    out.push_back(line[i]);
  }
  return out;
}

std::string Unquote(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

bool HasGlobChars(const std::string& s) { return s.find_first_of("*?[{") != std::string::npos; }

// One open block during parsing.
struct Frame {
  std::string key;
  std::string where;
  json* list;  // where its directives go
};

class Parser {
 public:
  explicit Parser(ConfSource* src) : src_(src) {}

  Result<json> Run(const std::string& text, const std::string& name) {
    root_ = json{{"directives", json::array()}};
    stack_.push_back(Frame{"", "", &root_["directives"]});
    Status s = ParseFile(text, name, 0);
    if (!s.ok()) return s;
    if (stack_.size() > 1) {
      return Status::InvalidArgument(stack_.back().where + ": <" + stack_.back().key +
                                     "> is never closed (no </" + stack_.back().key + ">)");
    }
    return std::move(root_);
  }

  Status Include(const std::string& arg, bool optional, const std::string& where, int depth) {
    if (depth >= kMaxIncludeDepth) {
      return Status::InvalidArgument(where + ": includes nested more than " +
                                     std::to_string(kMaxIncludeDepth) + " deep");
    }
    Result<std::vector<std::string>> expanded = src_->Expand(arg);
    if (!expanded.ok()) {
      return Status::InvalidArgument(where + ": include " + arg + ": " + expanded.status().message());
    }
    // A glob that matches nothing is not an error (Config::General); a missing file is,
    // unless the include is optional.
    if (expanded->empty() && !optional && !HasGlobChars(arg)) {
      return Status::NotFound(where + ": include " + arg + ": no such file");
    }
    std::vector<std::string> files = std::move(*expanded);
    for (const std::string& f : files) {
      if (!seen_.insert(f).second) continue;  // Config::General loads a file once
      if (static_cast<int>(seen_.size()) > kMaxConfFiles) {
        return Status::InvalidArgument(where + ": more than " + std::to_string(kMaxConfFiles) +
                                       " files included");
      }
      Result<std::string> text = src_->Read(f);
      if (!text.ok()) {
        if (optional && text.status().code() == Code::kNotFound) continue;
        return Status(text.status().code() == Code::kNotFound
                          ? Status::NotFound(where + ": include " + f + ": " + text.status().message())
                          : Status::IoError(where + ": include " + f + ": " + text.status().message()));
      }
      MODTGT_RETURN_IF_ERROR(ParseFile(*text, f, depth + 1));
    }
    return Status::OK();
  }

  void MarkSeen(const std::string& name) { seen_.insert(name); }

 private:
  Status ParseFile(const std::string& text, const std::string& name, int depth) {
    bytes_ += text.size();
    if (bytes_ > kMaxConfBytes) {
      return Status::InvalidArgument(name + ": the configuration is larger than " +
                                     std::to_string(kMaxConfBytes) + " bytes");
    }
    if (text.find('\0') != std::string::npos) {
      return Status::InvalidArgument(name + ": contains a NUL byte (not a text file)");
    }
    std::istringstream in(text);
    std::string raw, longline;
    int lineno = 0, long_start = 0;
    while (std::getline(in, raw)) {
      lineno++;
      if (!IsUtf8(raw)) {
        return Status::InvalidArgument(name + ":" + std::to_string(lineno) +
                                       ": not UTF-8 text");
      }
      std::string line = StripComment(raw);
      // A trailing backslash continues the line (leading blanks of the next dropped).
      std::string t = Trim(line);
      if (!t.empty() && t.back() == '\\' && (t.size() < 2 || t[t.size() - 2] != '\\')) {
        if (longline.empty()) long_start = lineno;
        longline += (longline.empty() ? t.substr(0, t.size() - 1) : Trim(t.substr(0, t.size() - 1)));
        continue;
      }
      int at = lineno;
      if (!longline.empty()) {
        t = longline + t;
        longline.clear();
        at = long_start;
      }
      if (t.empty()) continue;
      MODTGT_RETURN_IF_ERROR(Line(t, name + ":" + std::to_string(at), depth));
    }
    if (!longline.empty()) {
      MODTGT_RETURN_IF_ERROR(Line(longline, name + ":" + std::to_string(long_start), depth));
    }
    return Status::OK();
  }

  Status Line(const std::string& t, const std::string& where, int depth) {
    // include / includeoptional, anywhere (Apache style), the path possibly quoted.
    {
      size_t sp = 0;
      while (sp < t.size() && !IsSpace(t[sp]) && t[sp] != '"' && t[sp] != '\'') sp++;
      std::string word = t.substr(0, sp);
      if (strcasecmp(word.c_str(), "include") == 0 || strcasecmp(word.c_str(), "includeoptional") == 0) {
        std::string arg = Trim(t.substr(sp));
        if (arg.size() >= 2 && (arg.front() == '"' || arg.front() == '\'') && arg.back() == arg.front()) {
          arg = arg.substr(1, arg.size() - 2);
        }
        if (arg.empty()) return Status::InvalidArgument(where + ": include without a path");
        return Include(arg, strcasecmp(word.c_str(), "includeoptional") == 0, where, depth);
      }
    }
    if (t.front() == '<') {
      if (t.back() != '>') return Status::InvalidArgument(where + ": a block tag must end with '>': " + t);
      std::string inner = Trim(t.substr(1, t.size() - 2));
      if (!inner.empty() && inner.front() == '/') {
        std::string key = Trim(inner.substr(1));
        if (stack_.size() <= 1) {
          return Status::InvalidArgument(where + ": </" + key + "> closes no block");
        }
        if (key != stack_.back().key) {
          return Status::InvalidArgument(where + ": </" + key + "> closes <" + stack_.back().key +
                                         "> opened at " + stack_.back().where);
        }
        stack_.pop_back();
        return Status::OK();
      }
      if (!inner.empty() && inner.back() == '/') {
        return Status::InvalidArgument(where + ": empty blocks (<" + inner + ">) are not supported");
      }
      if (inner.empty()) return Status::InvalidArgument(where + ": empty block tag");
      std::string key, value;
      size_t sp = 0;
      if (inner.front() == '"') {
        size_t close = inner.find('"', 1);
        if (close == std::string::npos) return Status::InvalidArgument(where + ": unbalanced quote in " + t);
        key = inner.substr(1, close - 1);
        value = Trim(inner.substr(close + 1));
      } else {
        while (sp < inner.size() && !IsSpace(inner[sp])) sp++;
        key = inner.substr(0, sp);
        value = Trim(inner.substr(sp));
      }
      value = Unquote(value);
      if (static_cast<int>(stack_.size()) > kMaxBlockDepth) {
        return Status::InvalidArgument(where + ": blocks nested more than " +
                                       std::to_string(kMaxBlockDepth) + " deep");
      }
      MODTGT_RETURN_IF_ERROR(Count(where));
      json node = {{"key", key}, {"value", value}, {"where", where}, {"block", json::array()}};
      json* list = stack_.back().list;
      list->push_back(std::move(node));
      stack_.push_back(Frame{key, where, &list->back()["block"]});
      return Status::OK();
    }
    // key value | key = value (the first '=' or blank run splits, Config::General's "guess").
    size_t cut = std::string::npos, rest = std::string::npos;
    for (size_t i = 0; i < t.size(); i++) {
      if (t[i] == '=' || IsSpace(t[i])) {
        cut = i;
        size_t j = i;
        while (j < t.size() && IsSpace(t[j])) j++;
        if (j < t.size() && t[j] == '=' && t[i] != '=') j++;
        else if (t[i] == '=') j = i + 1;
        while (j < t.size() && IsSpace(t[j])) j++;
        rest = j;
        break;
      }
    }
    std::string key = cut == std::string::npos ? t : t.substr(0, cut);
    std::string value = rest == std::string::npos ? "" : Trim(t.substr(rest));
    if (value.size() >= 3 && value.compare(0, 2, "<<") == 0) {
      return Status::InvalidArgument(where + ": here-documents (" + key + " <<...) are not supported");
    }
    value = Unquote(value);
    if (key.empty()) return Status::InvalidArgument(where + ": a line must start with a key: " + t);
    MODTGT_RETURN_IF_ERROR(Count(where));
    stack_.back().list->push_back({{"key", key}, {"value", value}, {"where", where}});
    return Status::OK();
  }

  Status Count(const std::string& where) {
    if (++directives_ > kMaxConfDirectives) {
      return Status::InvalidArgument(where + ": more than " + std::to_string(kMaxConfDirectives) +
                                     " directives");
    }
    return Status::OK();
  }

  ConfSource* src_;
  json root_;
  // Frames point into root_: its arrays only grow at their ends (push_back of a node whose
  // own "block" a new frame then points to); a frame below the top is never appended to
  // while a deeper one is open, so the pointers stay valid.
  std::vector<Frame> stack_;
  std::set<std::string> seen_;
  size_t bytes_ = 0;
  size_t directives_ = 0;
};

}  // namespace

Result<nlohmann::json> ParseTgtConfText(const std::string& text, const std::string& name,
                                        ConfSource* src) {
  Parser p(src);
  p.MarkSeen(name);
  return p.Run(text, name);
}

Result<nlohmann::json> ParseTgtConf(const std::string& path, ConfSource* src) {
  Result<std::string> text = src->Read(path);
  if (!text.ok()) return text.status();
  return ParseTgtConfText(*text, path, src);
}

Result<std::string> DiskConfSource::Read(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::NotFound(path + ": no such file")
                           : Status::IoError(path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::IoError(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxConfBytes) {
    return Status::IoError(path + ": larger than " + std::to_string(kMaxConfBytes) + " bytes");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError(path + ": cannot be read");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result<std::vector<std::string>> DiskConfSource::Expand(const std::string& pattern) {
  std::vector<std::string> out;
  struct stat st;
  if (!HasGlobChars(pattern) && stat(pattern.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // A folder: its files in ASCII order (Config::General's IncludeDirectories).
    DIR* d = opendir(pattern.c_str());
    if (d == nullptr) return Status::IoError(pattern + ": " + std::strerror(errno));
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string p = pattern + "/" + n;
      if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(p);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
  if (!HasGlobChars(pattern)) {
    if (stat(pattern.c_str(), &st) == 0) out.push_back(pattern);
    return out;
  }
  glob_t g{};
  int rc = glob(pattern.c_str(), GLOB_BRACE, nullptr, &g);
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) out.push_back(g.gl_pathv[i]);
    }
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) return Status::IoError("cannot expand " + pattern);
  return out;
}

}  // namespace modtgt::cli
