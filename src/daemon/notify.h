// SPDX-License-Identifier: Apache-2.0
// The systemd service notification protocol (sd_notify(3), "NOTIFY_SOCKET"), spoken
// directly rather than through libsystemd: one datagram of newline-separated assignments
// ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", "MAINPID=...") to the AF_UNIX
// socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). Without
// NOTIFY_SOCKET (not started by systemd as Type=notify) it does nothing.
//
// Threading: thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace modtgt::daemon {

// Sends `state` to the service manager. OK (and nothing sent) when NOTIFY_SOCKET is unset;
// an error naming the socket when it is set but cannot be reached.
Status Notify(const std::string& state);

}  // namespace modtgt::daemon
