// What the controller needs from persistence. Every state change is one JSON record, appended
// before the controller acts on it; flush_before_action() makes the appended records durable
// (the journal fsyncs) before any outside effect (scale, route, hook, analysis) happens, and
// says when it could not: the controller then fails closed (docs/ARCHITECTURE.md, Durability).
//
// The production adapter writes records to controller/journal.h (Journal::append(payload),
// sync()); recovery hands the records back to Controller::recover(). Threading: called on the
// controller thread only.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sluice::controller {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Takes the record by value: the controller builds it as a temporary, so a sink that keeps it
  // moves it in instead of copying the tree.
  virtual void append(nlohmann::json record) = 0;
  // Makes every record appended so far durable. OK: the caller may act on them. Otherwise the
  // reason (a full disk, a failed fsync): nothing appended since the last OK is promised, and the
  // caller must not act, answer a verb, or let anything outside see the change. The sink keeps
  // the unpromised records and writes them again on a later call that succeeds, so a later call
  // is also how a broken sink recovers (JournalSink reopens its journal); the controller makes
  // those calls with back-off while it holds.
  virtual Status flush_before_action() = 0;

  // Event ids stay unique and monotonic even when records are lost (a journal repair, a torn
  // tail): ids are handed out only below a durable ceiling that the controller raises in blocks
  // (Journal::reserve_ids). event_id_ceiling() is the ceiling found at open; reserve_event_ids()
  // makes a higher one durable before it returns. The defaults keep nothing: a memory sink's
  // records are never cut, so replay alone restores the next id.
  virtual uint64_t event_id_ceiling() const { return 0; }
  virtual Status reserve_event_ids(uint64_t /*ceiling*/) { return Status::ok(); }
};

// Keeps records in memory (tests, simulation: the "disk" that survives a simulated crash).
class MemoryEventSink final : public EventSink {
 public:
  void append(nlohmann::json record) override { records_.push_back(std::move(record)); }
  Status flush_before_action() override {
    durable_ = records_.size();
    return Status::ok();
  }
  const std::vector<nlohmann::json>& records() const { return records_; }
  // Records made durable by the last flush (what a crash leaves behind).
  std::vector<nlohmann::json> durable() const {
    return {records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(durable_)};
  }
  void truncate_to_durable() { records_.resize(durable_); }

 private:
  std::vector<nlohmann::json> records_;
  size_t durable_ = 0;
};

// Discards records (benchmarks).
class NullEventSink final : public EventSink {
 public:
  void append(nlohmann::json) override { ++appended_; }
  Status flush_before_action() override { return Status::ok(); }
  size_t appended() const { return appended_; }

 private:
  size_t appended_ = 0;
};

}  // namespace sluice::controller
