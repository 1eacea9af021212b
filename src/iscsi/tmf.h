// SPDX-License-Identifier: Apache-2.0
// TaskManagement: the Task Management Function Requests of one session (RFC 7143 11.5-11.6,
// 4.2.3.5; SAM-5 7): ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET,
// TARGET WARM RESET and TARGET COLD RESET. The resets reach every session of the target:
// the others' tasks are aborted on their own loops (AbortAllTasks) before the response
// goes out, every LU gets the
// reset's unit attention, and a cold reset closes every connection of the target (the
// caller's once its response is written). A task that is in the core when it is
// aborted is marked (scsi::Command::aborted) and the response waits until the core hands
// it back: a command is never freed under a backing store. The response goes out on the
// connection the request came in on.
//
// Threading: not thread-safe. Owned by a Session and used only on the session's loop.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "iscsi/pdu.h"

namespace modtgt::core {
class Target;
}

namespace modtgt::iscsi {

class Connection;
class Session;
struct Task;

class TaskManagement {
 public:
  explicit TaskManagement(Session* session) : session_(session) {}
  TaskManagement(const TaskManagement&) = delete;
  TaskManagement& operator=(const TaskManagement&) = delete;

  // Runs the TMF Request `req` that arrived on conn. A non-immediate request outside the
  // CmdSN window is ignored (RFC 7143 4.2.2.1). The response (Connection::SendTmfResponse)
  // goes out now, or once every task the function aborted in the core is back (TaskDone).
  void Execute(Connection* conn, const Bhs& req);
  // t, aborted by task management (or by its connection closing), is back from the core:
  // a response that was waiting only for it goes out.
  void TaskDone(Task* t);
  // conn is going away: responses still waiting to go out on it are dropped.
  void ConnectionGone(const Connection* conn);
  // A target reset asked by another session of the target: every task of this session is
  // aborted (no response goes out for it; one in the core is marked and comes back through
  // TaskDone). On the session's loop.
  void AbortAllTasks();

 private:
  // A response waiting for aborted tasks to leave the core.
  struct Pending {
    bool used = false;
    uint32_t itt = 0;
    uint8_t response = 0;
    uint32_t waiting = 0;
    Connection* conn = nullptr;  // where the response goes; null: nowhere
    bool close_after = false;    // TARGET COLD RESET: conn closes once the response is out
  };

  // Aborts t on behalf of the pending response in `slot` (-1: none waits for it).
  void Abort(Task* t, int slot);
  // Sends the response on conn; closes conn after it for a cold reset.
  void Respond(Connection* conn, uint32_t itt, uint8_t response, bool close_after);
  // The target-wide part of TARGET WARM/COLD RESET: the other sessions' tasks (and, cold,
  // their connections), and every LU of the target.
  // The response in `slot` waits until every other session has aborted its tasks.
  void ResetTarget(Connection* conn, const std::shared_ptr<core::Target>& target, bool cold,
                   int slot);
  // One thing the response in `slot` waited for is done (a task back from the core, or
  // another session's tasks aborted): the response goes out when none is left.
  void Release(int slot);

  Session* const session_;
  std::vector<Pending> pending_;
};

}  // namespace modtgt::iscsi
