#include "controller/journal_sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::controller {

JournalSink::JournalSink(std::unique_ptr<Journal> journal, Reopen reopen)
    : journal_(std::move(journal)), reopen_(std::move(reopen)) {
  durable_seq_ = journal_->synced_seq();
  id_ceiling_ = journal_->id_ceiling();
}

void JournalSink::append(nlohmann::json record) {
  std::string payload = record.dump();
  if (health_.is_ok()) {
    auto seq = journal_->append(payload);
    if (!seq.is_ok()) broke(seq.status());
  }
  // Kept whatever happened: a recovery writes it again.
  pending_.push_back(std::move(payload));
}

Status JournalSink::flush_before_action() {
  if (!health_.is_ok()) return recover_journal();
  if (Status st = journal_->sync(); !st.is_ok()) {
    broke(st);
    return health_;
  }
  mark_durable();
  return Status::ok();
}

Status JournalSink::reserve_event_ids(uint64_t ceiling) {
  if (!health_.is_ok()) return health_;
  Status st = journal_->reserve_ids(ceiling);
  if (!st.is_ok()) {
    return Status(st.code(), fmt::format("could not reserve event ids in {}: {}",
                                         journal_->directory(), st.message()));
  }
  id_ceiling_ = journal_->id_ceiling();
  return st;
}

Status JournalSink::snapshot_if_due(const std::function<std::string()>& state) {
  if (!health_.is_ok() || !journal_->snapshot_due()) return Status::ok();
  Status st = journal_->write_snapshot(journal_->last_seq(), state());
  // A snapshot that failed before its rename leaves the journal healthy; one that poisoned it
  // (its sync, or the next segment) leaves a journal that can never be trusted again.
  if (!journal_->health().is_ok()) broke(journal_->health());
  return st;
}

void JournalSink::mark_durable() {
  durable_seq_ = journal_->synced_seq();
  pending_.clear();
}

void JournalSink::broke(const Status& st) {
  if (!health_.is_ok()) return;
  health_ = Status(st.code(), fmt::format("journal write failed; state is no longer durable: {}",
                                          st.message()));
  spdlog::error("{}", health_.message());
}

Status JournalSink::recover_journal() {
  // A poisoned journal promises nothing more; reopening recovers exactly what is on disk.
  journal_.reset();
  auto opened = reopen_();
  if (!opened.is_ok()) {
    health_ = Status(opened.status().code(),
                     fmt::format("state is not durable; reopening the journal failed: {}",
                                 opened.status().message()));
    return health_;
  }
  std::unique_ptr<Journal> journal = std::move(*opened);
  (void)journal->recover();  // this process's memory is ahead of it: nothing to replay
  if (journal->last_seq() < durable_seq_) {
    health_ = data_loss(fmt::format(
        "state is not durable; the reopened journal in {} ends at record {}, but records up to "
        "{} had been made durable",
        journal->directory(), journal->last_seq(), durable_seq_));
    journal_ = std::move(journal);
    return health_;
  }
  // Records after the last durable one were never acknowledged: they may read back from the page
  // cache after a failed fsync without being on disk, so they are cut and written again.
  if (Status st = journal->truncate_after(durable_seq_); !st.is_ok()) {
    health_ = Status(st.code(), fmt::format("state is not durable; cutting unacknowledged "
                                            "records from the journal failed: {}",
                                            st.message()));
    journal_ = std::move(journal);
    return health_;
  }
  // Records the cut kept (in sealed segments, or covered by a snapshot) were durable already:
  // a sync that the sink did not see (a snapshot's) covered them.
  const uint64_t kept = journal->last_seq() - durable_seq_;
  Status st;
  for (size_t i = kept; i < pending_.size() && st.is_ok(); ++i) {
    st = journal->append(pending_[i]).status();
  }
  if (st.is_ok()) st = journal->sync();
  journal_ = std::move(journal);
  id_ceiling_ = std::max(id_ceiling_, journal_->id_ceiling());
  if (!st.is_ok()) {
    health_ = Status(st.code(),
                     fmt::format("journal write failed; state is no longer durable: {}",
                                 st.message()));
    return health_;
  }
  spdlog::info("journal {} reopened; {} record(s) held in memory are durable now",
               journal_->directory(), pending_.size());
  health_ = Status::ok();
  mark_durable();
  return Status::ok();
}

}  // namespace sluice::controller
