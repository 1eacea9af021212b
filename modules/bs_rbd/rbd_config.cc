// SPDX-License-Identifier: Apache-2.0
#include "rbd_config.h"

#include <cstdlib>
#include <set>
#include <vector>

namespace modtgt::rbd {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

// A RADOS pool, namespace, image or snapshot name: not empty, no '/', '@', ';', no
// whitespace or control character (the rbd CLI's own rules are looser, but such names
// cannot be written in a config string unambiguously anyway).
bool GoodName(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= ' ' || c == 0x7f || c == '/' || c == '@' || c == ';' || c == '=') return false;
  }
  return true;
}

bool ParseSeconds(const std::string& key, const std::string& v, uint32_t* out,
                  std::string* error) {
  char* end = nullptr;
  const unsigned long n = v.empty() ? 0 : std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || v[0] == '-' || v[0] == '+' || n < 1 || n > 3600) {
    *error = key + "=" + v + ": give a number of seconds from 1 to 3600";
    return false;
  }
  *out = static_cast<uint32_t>(n);
  return true;
}

bool ApplyOption(const std::string& item, const char* where, std::set<std::string>* seen,
                 RbdConfig* c, std::string* error) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    *error = std::string("'") + item + "' in the " + where +
             " is not KEY=VALUE (keys: conf, id, keyring, osd_op_timeout, mon_op_timeout, lock)";
    return false;
  }
  const std::string key = item.substr(0, eq);
  const std::string value = item.substr(eq + 1);
  if (!seen->insert(key).second) {
    *error = "'" + key + "' is given twice";
    return false;
  }
  if (key == "conf" || key == "keyring") {
    if (value.empty()) {
      *error = key + "= needs a path";
      return false;
    }
    (key == "conf" ? c->conf : c->keyring) = value;
  } else if (key == "id") {
    std::string id = value.compare(0, 7, "client.") == 0 ? value.substr(7) : value;
    if (!GoodName(id)) {
      *error = "id=" + value + ": give the cephx user, e.g. id=admin or id=client.admin";
      return false;
    }
    c->id = id;
  } else if (key == "osd_op_timeout") {
    return ParseSeconds(key, value, &c->osd_op_timeout, error);
  } else if (key == "mon_op_timeout") {
    return ParseSeconds(key, value, &c->mon_op_timeout, error);
  } else if (key == "lock") {
    if (value == "take") {
      c->lock = LockMode::kTake;
    } else if (value == "standby") {
      c->lock = LockMode::kStandby;
    } else {
      *error = "lock=" + value + ": give lock=take or lock=standby";
      return false;
    }
    c->lock_given = true;
  } else {
    *error = "unknown option '" + key + "' in the " + where +
             " (known: conf, id, keyring, osd_op_timeout, mon_op_timeout, lock)";
    return false;
  }
  return true;
}

}  // namespace

std::string RbdConfig::Name() const {
  std::string s = pool + "/";
  if (!ns.empty()) s += ns + "/";
  s += image;
  if (!snap.empty()) s += "@" + snap;
  return s;
}

bool RbdConfig::SameImage(const RbdConfig& o) const {
  return pool == o.pool && ns == o.ns && image == o.image && snap == o.snap;
}

bool ParseRbdConfig(const std::string& path, const std::string& bsopts, RbdConfig* out,
                    std::string* error) {
  RbdConfig c;
  std::vector<std::string> parts = Split(path, ';');
  const std::string name = parts[0];
  if (name.empty()) {
    *error = "no image given: the config string is rbd/POOL/IMAGE[@SNAP][;key=value...]";
    return false;
  }
  std::string spec = name;
  const size_t at = spec.find('@');
  if (at != std::string::npos) {
    c.snap = spec.substr(at + 1);
    spec.resize(at);
    if (!GoodName(c.snap)) {
      *error = "'" + name + "': the snapshot name after '@' is empty or malformed";
      return false;
    }
  }
  std::vector<std::string> comps = Split(spec, '/');
  if (comps.size() > 3) {
    *error = "'" + name + "' has too many '/': give POOL/IMAGE or POOL/NAMESPACE/IMAGE";
    return false;
  }
  for (const std::string& comp : comps) {
    if (!GoodName(comp)) {
      *error = "'" + name + "': empty or malformed pool, namespace or image name "
               "(give POOL/IMAGE[@SNAP] or POOL/NAMESPACE/IMAGE[@SNAP])";
      return false;
    }
  }
  c.image = comps.back();
  if (comps.size() >= 2) c.pool = comps[0];
  if (comps.size() == 3) c.ns = comps[1];

  std::set<std::string> seen;
  for (size_t i = 1; i < parts.size(); i++) {
    if (!ApplyOption(parts[i], "config string", &seen, &c, error)) return false;
  }
  if (!bsopts.empty()) {
    for (const std::string& item : Split(bsopts, ';')) {
      if (!ApplyOption(item, "bsopts", &seen, &c, error)) return false;
    }
  }
  *out = std::move(c);
  return true;
}

}  // namespace modtgt::rbd
