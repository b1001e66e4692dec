// The production EventSink: controller records -> Journal (controller/journal.h). append()
// buffers a record, flush_before_action() syncs, and event ids are reserved in blocks through
// the journal's durable id ceiling (Journal::reserve_ids), so they never repeat, even after a
// `sluice journal repair` cut records that clients had already seen.
//
// The first failed write is logged once and turns healthy() false (serve's /readyz reports it).
// Threads: the controller thread only, like the Journal it wraps.
#pragma once

#include "controller/event_sink.h"
#include "controller/journal.h"

namespace sluice::controller {

class JournalSink final : public EventSink {
 public:
  explicit JournalSink(Journal& journal) : journal_(journal) {}

  void append(nlohmann::json record) override;
  void flush_before_action() override;
  uint64_t event_id_ceiling() const override { return journal_.id_ceiling(); }
  Status reserve_event_ids(uint64_t ceiling) override;

  bool healthy() const { return healthy_; }

 private:
  void report(const Status& st);

  Journal& journal_;
  bool healthy_ = true;
};

}  // namespace sluice::controller
