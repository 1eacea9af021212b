// SPDX-License-Identifier: Apache-2.0
// The syntax of tgt-admin's targets.conf (targets.conf(5)), as tgt-admin reads it with
// Perl's Config::General (UseApacheInclude, IncludeGlob, IncludeDirectories,
// MergeDuplicateBlocks): lines of "key value" (or "key = value"), "#" comments (a "\#"
// is a literal '#'), a trailing "\" continuing a line, a value in double quotes unquoted,
// blocks "<key value>" ... "</key>" (nested), and "include PATH" / "includeoptional PATH"
// anywhere (a glob, a folder, or a file; relative paths are taken from the current folder,
// as tgt-admin does).
//
// This is syntax only: the result is a tree of directives in file order, each with where it
// came from ("targets.conf:12"); what the directives mean (targets, LUNs, accounts) is the
// daemon's (core/tgt_import.h), which gets the tree as JSON:
//   {"directives": [{"key": K, "value": V, "where": "FILE:LINE", "block": [...]?}, ...]}
// Nothing named in a file is ever run: include only reads files.
//
// Threading: pure functions over a ConfSource; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modtgt::cli {

// Where included files come from. The CLI reads the disk (DiskConfSource); tests and the
// fuzzer give text from memory.
class ConfSource {
 public:
  virtual ~ConfSource() = default;
  // The text of `path`. NotFound when it does not exist, IoError when it cannot be read.
  virtual Result<std::string> Read(const std::string& path) = 0;
  // The files an include names, in order: the matches of a glob (regular files only, none
  // is not an error), the files of a folder in ASCII order, or the file itself.
  virtual Result<std::vector<std::string>> Expand(const std::string& pattern) = 0;
};

class DiskConfSource : public ConfSource {
 public:
  Result<std::string> Read(const std::string& path) override;
  Result<std::vector<std::string>> Expand(const std::string& pattern) override;
};

// Limits: what a targets.conf may hold (well beyond any real one).
inline constexpr size_t kMaxConfBytes = 512 * 1024;  // all files together
inline constexpr int kMaxConfFiles = 256;
inline constexpr int kMaxIncludeDepth = 16;
inline constexpr int kMaxBlockDepth = 8;
inline constexpr size_t kMaxConfDirectives = 20000;

// Parses `path` (read through `src`) and its includes. InvalidArgument "FILE:LINE: what"
// for a syntax error (an unclosed or mismatched block, a here-document, a line that is not
// "key value"), NotFound / IoError for a file that cannot be read, and for the limits above.
Result<nlohmann::json> ParseTgtConf(const std::string& path, ConfSource* src);
// The same for text already in hand (`name` is used in the locations).
Result<nlohmann::json> ParseTgtConfText(const std::string& text, const std::string& name,
                                        ConfSource* src);

}  // namespace modtgt::cli
