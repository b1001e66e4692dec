// The production EventSink: controller records -> Journal (controller/journal.h). append()
// buffers a record, flush_before_action() syncs, and event ids are reserved in blocks through
// the journal's durable id ceiling (Journal::reserve_ids), so they never repeat, even after a
// `sluice journal repair` cut records that clients had already seen.
//
// Failing closed and recovering. The first failed write or fsync poisons the Journal (journal.h:
// after a failed fsync the kernel may have dropped the dirty pages, so that file is never trusted
// again). The sink then reports the failure from every flush_before_action() (health() says why)
// while it keeps, in memory, every record appended since the last durable point. The next
// flush_before_action() after a failure is a recovery attempt: it drops the poisoned Journal,
// opens the directory again through `reopen` (which cuts a torn tail), cuts any record after the
// last durable one (it may read back from the page cache without being on disk), appends the kept
// records again and syncs. Only when that sync succeeds is the sink healthy again. The caller
// paces the attempts (the controller retries with back-off while it holds).
//
// Threads: the controller thread only, like the Journal it wraps.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "controller/event_sink.h"
#include "controller/journal.h"

namespace sluice::controller {

class JournalSink final : public EventSink {
 public:
  // Opens the journal's directory again (Journal::open with the options of the first open).
  using Reopen = std::function<Result<std::unique_ptr<Journal>>()>;

  // `journal` is open and its recover() already taken; everything in it is durable.
  JournalSink(std::unique_ptr<Journal> journal, Reopen reopen);

  void append(nlohmann::json record) override;
  Status flush_before_action() override;
  uint64_t event_id_ceiling() const override { return id_ceiling_; }
  Status reserve_event_ids(uint64_t ceiling) override;

  // OK while every flushed record is durable; otherwise the failure that broke the journal (or
  // the last failed recovery attempt), with the journal's directory in the message.
  const Status& health() const { return health_; }
  // The journal written now (benchmarks and tests); a recovery replaces it, and it is null after
  // a failed reopen.
  Journal* journal() { return journal_.get(); }
  // Records appended but not yet known to be durable (kept for a recovery).
  size_t pending_records() const { return pending_.size(); }

  // Writes a snapshot of `state()` at the journal's last record when one is due
  // (Journal::snapshot_due) and the sink is healthy; a failure that poisons the journal breaks
  // the sink like a failed flush. OK when nothing was due.
  Status snapshot_if_due(const std::function<std::string()>& state);

 private:
  Status recover_journal();
  void broke(const Status& st);
  void mark_durable();

  std::unique_ptr<Journal> journal_;  // null after a failed reopen
  Reopen reopen_;
  std::string dir_;
  // Records after durable_seq_, in order: written again by a recovery.
  std::vector<std::string> pending_;
  uint64_t durable_seq_ = 0;
  uint64_t id_ceiling_ = 0;
  Status health_;
};

}  // namespace sluice::controller
