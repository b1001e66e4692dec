#include "gitops/source_status.h"

namespace sluice::gitops {

namespace {

nlohmann::json or_null(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

nlohmann::json signature_json(const SignatureVerdict& v) {
  return {{"verified", v.verified},
          {"signer", or_null(v.signer)},
          {"key", or_null(v.key)},
          {"reason", or_null(v.reason)},
          {"message", v.message}};
}

}  // namespace

nlohmann::json to_json(const SourceStatus& s) {
  nlohmann::json j;
  j["repo"] = s.repo;
  j["branch"] = s.branch;
  j["path"] = s.path;
  j["commit"] = s.commit;
  j["fetchedAt"] = s.fetched_at ? nlohmann::json(format_rfc3339(*s.fetched_at)) : nullptr;
  if (s.error) {
    j["error"] = {{"commit", s.error->commit},
                  {"message", s.error->message},
                  {"file", s.error->file},
                  {"line", s.error->line}};
    if (s.error->signature) j["error"]["signature"] = signature_json(*s.error->signature);
  } else {
    j["error"] = nullptr;
  }
  if (!s.commit_info.sha.empty()) {
    j["commitInfo"] = {{"sha", s.commit_info.sha},
                       {"author", s.commit_info.author},
                       {"email", s.commit_info.author_email},
                       {"time", format_rfc3339(s.commit_info.time)},
                       {"message", s.commit_info.message}};
  }
  j["forced"] = s.forced;
  j["consecutiveFailures"] = s.consecutive_failures;
  j["nextFetchAt"] = s.next_fetch_at ? nlohmann::json(format_rfc3339(*s.next_fetch_at)) : nullptr;
  if (s.verify_mode != VerifyMode::kOff) {
    j["verify"] = {{"mode", verify_mode_name(s.verify_mode)}};
    j["signature"] = s.signature ? signature_json(*s.signature) : nlohmann::json();
  } else {
    j["verify"] = nullptr;
    j["signature"] = nullptr;
  }
  return j;
}

SourceError error_from_snapshot(const Snapshot& snapshot) {
  SourceError e;
  e.commit = snapshot.commit.sha;
  if (snapshot.manifests.diagnostics.empty()) return e;
  const auto& d = snapshot.manifests.diagnostics.front();
  e.file = d.pos.file;
  e.line = d.pos.line;
  e.message = d.to_string();
  size_t n = snapshot.manifests.diagnostics.size();
  if (n > 1) e.message += " (and " + std::to_string(n - 1) + " more)";
  return e;
}

}  // namespace sluice::gitops

namespace sluice::gitops {

std::string metrics_text(const SourceStatus& s) {
  std::string out;
  out += "# HELP sluice_git_fetch_total Fetches of the Git source, by result.\n";
  out += "# TYPE sluice_git_fetch_total counter\n";
  out += "sluice_git_fetch_total{result=\"success\"} " +
         std::to_string(s.fetches - s.fetch_failures) + "\n";
  out += "sluice_git_fetch_total{result=\"error\"} " + std::to_string(s.fetch_failures) + "\n";
  out += "# HELP sluice_git_source_invalid 1 while the fetched head is invalid or could not be "
         "fetched (the last good commit stays applied).\n";
  out += "# TYPE sluice_git_source_invalid gauge\n";
  out += std::string("sluice_git_source_invalid ") + (s.error ? "1" : "0") + "\n";
  out += "# HELP sluice_git_invalid_heads_total Fetched heads refused because their manifests "
         "were invalid.\n";
  out += "# TYPE sluice_git_invalid_heads_total counter\n";
  out += "sluice_git_invalid_heads_total " + std::to_string(s.invalid_heads) + "\n";
  if (s.verify_mode != VerifyMode::kOff) {
    out += "# HELP sluice_git_unverified_heads_total Fetched heads refused because their "
           "signature did not verify against the trusted keys (repo.verify).\n";
    out += "# TYPE sluice_git_unverified_heads_total counter\n";
    out += "sluice_git_unverified_heads_total " + std::to_string(s.unverified_heads) + "\n";
  }
  if (s.fetched_at) {
    out += "# HELP sluice_git_last_fetch_timestamp_seconds Time of the last successful fetch.\n";
    out += "# TYPE sluice_git_last_fetch_timestamp_seconds gauge\n";
    out += "sluice_git_last_fetch_timestamp_seconds " +
           std::to_string(static_cast<double>(to_unix_ms(*s.fetched_at)) / 1000.0) + "\n";
  }
  return out;
}

}  // namespace sluice::gitops
