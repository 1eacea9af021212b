// SPDX-License-Identifier: Apache-2.0
//
// bs_rbd's configuration: the config string (and --bsopts) parsed into a RbdConfig, with
// no librados call and no side effect. Pure functions: thread-safe.
//
//   rbd/[POOL/[NAMESPACE/]]IMAGE[@SNAP][;KEY=VALUE]...
//
// (the daemon hands the module the part after "rbd/"; a tgtadm --backing-store without the
// prefix is the same string). One path component is an image in pool "rbd" (tgt's bs_rbd,
// the rbd CLI's default pool), two are POOL/IMAGE, three POOL/NAMESPACE/IMAGE. Keys, in the
// config string after ';' or in --bsopts separated by ';' (tgt's form):
//
//   conf=PATH             ceph.conf (default: librados' search: $CEPH_CONF,
//                         /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf)
//   id=NAME               cephx user, "NAME" or "client.NAME" (default: admin)
//   keyring=PATH          the user's keyring (default: the conf's `keyring`)
//   osd_op_timeout=SECS   an OSD operation that takes longer fails (I/O gets BUSY);
//                         1..3600, default 30 (librados rados_osd_op_timeout)
//   mon_op_timeout=SECS   the same for monitor operations and for connecting
//                         (rados_mon_op_timeout, client_mount_timeout); 1..3600, default 30
//   lock=take|standby     writable LUNs of images with the exclusive-lock feature: `take`
//                         (default) acquires the exclusive lock at open, breaking (and so
//                         blocklisting) any other holder; `standby` opens without it and
//                         refuses writes until the lock group's lock() takes it
//
// Values cannot contain ';'; keys are lower case; a key given twice (also once in the
// config string and once in --bsopts) or an unknown key is an error.
#pragma once

#include <cstdint>
#include <string>

namespace modtgt::rbd {

enum class LockMode { kTake, kStandby };

struct RbdConfig {
  std::string pool = "rbd";
  std::string ns;        // RADOS namespace, "" = the default one
  std::string image;
  std::string snap;      // "" = the image head
  std::string conf;      // "" = librados' default search
  std::string id;        // cephx user without "client.", "" = librados' default (admin)
  std::string keyring;   // "" = from the conf
  uint32_t osd_op_timeout = 30;
  uint32_t mon_op_timeout = 30;
  LockMode lock = LockMode::kTake;
  bool lock_given = false;  // lock= was given explicitly

  // "POOL/[NS/]IMAGE[@SNAP]", for messages.
  std::string Name() const;
  // True when both name the same image or snapshot (pool, namespace, image, snap).
  bool SameImage(const RbdConfig& o) const;
};

// Parses `path` (the config string after "rbd/") and `bsopts`. Returns true and fills *out,
// or false with the reason in *error (a sentence naming the offending part). Does not
// touch the cluster or any file.
bool ParseRbdConfig(const std::string& path, const std::string& bsopts, RbdConfig* out,
                    std::string* error);

}  // namespace modtgt::rbd
