#include "controller/journal_sink.h"

#include <spdlog/spdlog.h>

namespace sluice::controller {

void JournalSink::append(nlohmann::json record) {
  auto seq = journal_.append(record.dump());
  if (!seq.is_ok()) report(seq.status());
}

void JournalSink::flush_before_action() {
  if (Status st = journal_.sync(); !st.is_ok()) report(st);
}

Status JournalSink::reserve_event_ids(uint64_t ceiling) {
  Status st = journal_.reserve_ids(ceiling);
  if (!st.is_ok()) report(st);
  return st;
}

void JournalSink::report(const Status& st) {
  if (healthy_) spdlog::error("journal write failed; state is no longer durable: {}", st.message());
  healthy_ = false;
}

}  // namespace sluice::controller
