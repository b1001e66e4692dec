#include "gitops/write_back.h"

#include <git2.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "gitops/snapshot.h"

namespace sluice::gitops {
namespace fs = std::filesystem;

namespace {

template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using CommitPtr = Owned<git_commit, git_commit_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using EntryPtr = Owned<git_tree_entry, git_tree_entry_free>;
using BlobPtr = Owned<git_blob, git_blob_free>;
using SignaturePtr = Owned<git_signature, git_signature_free>;
using RefPtr = Owned<git_reference, git_reference_free>;

constexpr const char* kLocalRef = "refs/sluice/write-back";

std::string hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

std::string short_sha(const std::string& sha) { return sha.substr(0, 12); }

Result<git_oid> to_oid(const std::string& sha) {
  git_oid oid;
  if (sha.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, sha.c_str()) != 0)
    return invalid_argument("not a commit sha: '" + sha + "'");
  return oid;
}

Status lookup_commit(git_repository* repo, const std::string& sha, CommitPtr& out) {
  auto oid = to_oid(sha);
  if (!oid.is_ok()) return oid.status();
  if (git_commit_lookup(out.out(), repo, &*oid) != 0)
    return not_found("commit " + short_sha(sha) + " is not on the fetched branch");
  return Status::ok();
}

// The blob of `path` in the commit's tree; nullopt when the path is absent (or not a file).
struct FileAt {
  git_oid blob{};
  git_filemode_t mode = GIT_FILEMODE_BLOB;
};
std::optional<FileAt> file_at(const git_commit* commit, const std::string& path) {
  TreePtr tree;
  if (git_commit_tree(tree.out(), commit) != 0) return std::nullopt;
  EntryPtr entry;
  if (git_tree_entry_bypath(entry.out(), tree.get(), path.c_str()) != 0) return std::nullopt;
  FileAt f;
  f.blob = *git_tree_entry_id(entry.get());
  f.mode = git_tree_entry_filemode(entry.get());
  return f;
}

Result<std::string> blob_content(git_repository* repo, const git_oid& oid) {
  BlobPtr blob;
  if (git_blob_lookup(blob.out(), repo, &oid) != 0)
    return data_loss("blob " + hex(&oid) + ": " + last_git_error());
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

const manifests::LoadedRollout* find_rollout(const Snapshot& snap, const std::string& name) {
  for (const auto& r : snap.manifests.rollouts) {
    if (r.rollout.metadata.name == name) return &r;
  }
  return nullptr;
}

std::string first_diagnostic(const Snapshot& snap) {
  return snap.manifests.diagnostics.empty() ? std::string("invalid manifests")
                                            : snap.manifests.diagnostics.front().to_string();
}

// The message trailers a revert carries; also how an earlier revert is recognised.
std::string trailer_rollout(const std::string& rollout) { return "Sluice-Rollout: " + rollout; }
std::string trailer_revision(int64_t revision) {
  return "Sluice-Revision: " + std::to_string(revision);
}

bool has_line(const std::string& text, const std::string& line) {
  size_t at = 0;
  while ((at = text.find(line, at)) != std::string::npos) {
    const bool starts = at == 0 || text[at - 1] == '\n';
    const size_t end = at + line.size();
    const bool ends = end == text.size() || text[end] == '\n' || text[end] == '\r';
    if (starts && ends) return true;
    at = end;
  }
  return false;
}

// An earlier revert of this rollout's revision on the branch (first parents from head).
std::optional<std::string> find_earlier_revert(git_repository* repo, const std::string& head,
                                               const RevertRequest& req) {
  CommitPtr current;
  if (!lookup_commit(repo, head, current).is_ok()) return std::nullopt;
  for (int depth = 0; depth < kRevertSearchDepth; ++depth) {
    const char* raw = git_commit_message(current.get());
    const std::string message = raw ? raw : "";
    if (has_line(message, trailer_rollout(req.rollout)) &&
        has_line(message, trailer_revision(req.revision)))
      return hex(git_commit_id(current.get()));
    if (git_commit_parentcount(current.get()) == 0) break;
    CommitPtr parent;
    if (git_commit_parent(parent.out(), current.get(), 0) != 0) break;
    std::swap(current.p, parent.p);
  }
  return std::nullopt;
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_author(const std::string& author) {
  const size_t open = author.find('<');
  const size_t close = author.rfind('>');
  if (open == std::string::npos || close == std::string::npos || close < open ||
      close != author.size() - 1)
    return invalid_argument("author must be 'Name <email>' (got '" + author + "')");
  std::string name = author.substr(0, open);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  std::string email = author.substr(open + 1, close - open - 1);
  if (name.empty()) return invalid_argument("author has no name before <email>");
  if (email.empty() || email.find('@') == std::string::npos || email.find('<') != std::string::npos)
    return invalid_argument("author's email '" + email + "' is not an address");
  return std::make_pair(name, email);
}

std::string read_only_reason(const RepoConfig& config) {
  const std::string& url = config.url;
  const std::string shown = redact_url(url);
  auto starts = [&](const char* prefix) { return url.rfind(prefix, 0) == 0; };
  if (starts("https://") || starts("http://")) {
    if (!config.auth.password_file)
      return shown + " is read over HTTP without a token: set repo.passwordFile (a token that may "
                     "push) for gitWriteBack";
    return "";
  }
  const bool scp_like = url.find("://") == std::string::npos &&
                        url.find('@') != std::string::npos && url.find(':') != std::string::npos;
  if (starts("ssh://") || scp_like) {
    if (!config.auth.ssh_key_file)
      return shown + " is an ssh remote without a key: set repo.sshKeyFile (a key that may push) "
                     "and repo.knownHostsFile for gitWriteBack";
    return "";
  }
  if (starts("git://")) return "";  // git daemon --enable=receive-pack takes pushes
  std::string path = starts("file://") ? url.substr(7) : url;
  std::error_code ec;
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0)
    return "the local repository " + path + " is not writable by this process";
  return "";
}

struct GitWriter::Built {
  std::string sha;
  std::string reverted;
  std::string file;
  bool already_stable = false;  // the head already has the stable template: nothing to commit
};

GitWriter::GitWriter(RepoConfig config, WriteBackOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  // Its own bare repository (see the header): .../writeback/git/mirror.git.
  config_.state_dir = (fs::path(config_.state_dir) / "writeback").string();
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

GitWriter::~GitWriter() = default;

Result<GitWriter::Built> GitWriter::build(const std::string& head, const RevertRequest& req) {
  git_repository* repo = repo_->raw();
  SnapshotBuilder builder(config_.path, options_.limits);
  auto head_snap = builder.build(repo, head);
  if (!head_snap.is_ok()) return head_snap.status();
  if (!head_snap->ok())
    return failed_precondition(fmt::format("the head {} of {} is not valid ({}); not reverting",
                                           short_sha(head), config_.ref,
                                           first_diagnostic(*head_snap)));
  const manifests::LoadedRollout* at_head = find_rollout(*head_snap, req.rollout);
  if (!at_head)
    return failed_precondition(fmt::format("rollout {} is no longer in {} at {}; nothing to revert",
                                           req.rollout, config_.ref, short_sha(head)));
  if (at_head->rollout.spec.template_ == req.stable_template) {
    Built done;
    done.sha = head;
    done.file = at_head->origin.file;
    done.already_stable = true;
    return done;
  }

  // The Rollout's file, as of the bad revision's commit.
  auto bad_snap = builder.build(repo, req.commit);
  if (!bad_snap.is_ok()) return bad_snap.status();
  const manifests::LoadedRollout* at_bad = bad_snap->ok() ? find_rollout(*bad_snap, req.rollout)
                                                          : nullptr;
  if (!at_bad)
    return failed_precondition(fmt::format("rollout {} cannot be read at commit {}",
                                           req.rollout, short_sha(req.commit)));
  const std::string file = at_bad->origin.file;

  // The commit that changed that file, at or before the revision's commit (first parents).
  CommitPtr changed;
  if (Status st = lookup_commit(repo, req.commit, changed); !st.is_ok()) return st;
  CommitPtr before;
  for (int depth = 0;; ++depth) {
    if (depth >= kChangeSearchDepth)
      return failed_precondition(fmt::format(
          "no commit changed {} within {} commits before {}; not reverting", file,
          kChangeSearchDepth, short_sha(req.commit)));
    auto mine = file_at(changed.get(), file);
    if (!mine) return failed_precondition(file + " is missing at " + short_sha(req.commit));
    if (git_commit_parentcount(changed.get()) == 0 ||
        git_commit_parent(before.out(), changed.get(), 0) != 0)
      return failed_precondition(
          fmt::format("{} came with the first commit {}; nothing to revert to", file,
                      short_sha(hex(git_commit_id(changed.get())))));
    auto theirs = file_at(before.get(), file);
    if (!theirs)
      return failed_precondition(fmt::format("{} was added by commit {}; nothing to revert to",
                                             file, short_sha(hex(git_commit_id(changed.get())))));
    if (!git_oid_equal(&mine->blob, &theirs->blob)) break;
    std::swap(changed.p, before.p);
    git_commit_free(before.p);
    before.p = nullptr;
  }
  const std::string reverted = hex(git_commit_id(changed.get()));
  const FileAt base = *file_at(changed.get(), file);
  const FileAt theirs = *file_at(before.get(), file);

  CommitPtr head_commit;
  if (Status st = lookup_commit(repo, head, head_commit); !st.is_ok()) return st;
  auto ours = file_at(head_commit.get(), file);
  if (!ours)
    return failed_precondition(fmt::format("{} was removed from {} since; not reverting", file,
                                           config_.ref));
  if (ours->mode != GIT_FILEMODE_BLOB && ours->mode != GIT_FILEMODE_BLOB_EXECUTABLE)
    return failed_precondition(file + " is not a regular file on " + config_.ref);

  // git revert, restricted to this file: a three-way merge with the reverted commit as base.
  std::string content;
  if (git_oid_equal(&ours->blob, &base.blob)) {
    auto c = blob_content(repo, theirs.blob);
    if (!c.is_ok()) return c.status();
    content = std::move(*c);
  } else {
    auto base_text = blob_content(repo, base.blob);
    auto ours_text = blob_content(repo, ours->blob);
    auto theirs_text = blob_content(repo, theirs.blob);
    if (!base_text.is_ok()) return base_text.status();
    if (!ours_text.is_ok()) return ours_text.status();
    if (!theirs_text.is_ok()) return theirs_text.status();
    git_merge_file_input in_base = GIT_MERGE_FILE_INPUT_INIT;
    git_merge_file_input in_ours = GIT_MERGE_FILE_INPUT_INIT;
    git_merge_file_input in_theirs = GIT_MERGE_FILE_INPUT_INIT;
    in_base.ptr = base_text->data();
    in_base.size = base_text->size();
    in_ours.ptr = ours_text->data();
    in_ours.size = ours_text->size();
    in_theirs.ptr = theirs_text->data();
    in_theirs.size = theirs_text->size();
    git_merge_file_result merged = {};
    if (git_merge_file(&merged, &in_base, &in_ours, &in_theirs, nullptr) != 0)
      return internal_error("merging " + file + ": " + last_git_error());
    const bool clean = merged.automergeable != 0;
    if (clean) content.assign(merged.ptr, merged.len);
    git_merge_file_result_free(&merged);
    if (!clean)
      return failed_precondition(fmt::format(
          "reverting commit {} conflicts with later edits of {} on {} (head {}); not pushed",
          short_sha(reverted), file, config_.ref, short_sha(head)));
  }

  // The head's tree with that one file replaced (git_tree_create_updated: no index needed).
  TreePtr head_tree;
  if (git_commit_tree(head_tree.out(), head_commit.get()) != 0)
    return data_loss("tree of " + short_sha(head) + ": " + last_git_error());
  git_oid blob_oid;
  git_oid tree_oid;
  if (git_blob_create_from_buffer(&blob_oid, repo, content.data(), content.size()) != 0)
    return internal_error("writing the reverted " + file + ": " + last_git_error());
  git_tree_update update = {};
  update.action = GIT_TREE_UPDATE_UPSERT;
  update.id = blob_oid;
  update.filemode = ours->mode;
  update.path = file.c_str();
  if (git_tree_create_updated(&tree_oid, repo, head_tree.get(), 1, &update) != 0)
    return internal_error("building the revert tree: " + last_git_error());
  TreePtr tree;
  if (git_tree_lookup(tree.out(), repo, &tree_oid) != 0)
    return internal_error("revert tree: " + last_git_error());

  const char* summary_raw = git_commit_summary(changed.get());
  const std::string message = fmt::format(
      "Revert \"{}\" for rollout {}\n\n"
      "Sluice aborted revision {} (version {}) of rollout {}: {}\n\n"
      "This reverts the change commit {} made to {}, so that Git says again what runs: "
      "revision {} (version {}).\n\n"
      "{}\n{}\nSluice-Reverted-Commit: {}\n",
      summary_raw ? summary_raw : "", req.rollout, req.revision, req.version, req.rollout,
      req.reason, reverted, file, req.stable_revision, req.stable_version,
      trailer_rollout(req.rollout), trailer_revision(req.revision), reverted);
  SignaturePtr author;
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(req.time.time_since_epoch());
  if (git_signature_new(author.out(), options_.author_name.c_str(), options_.author_email.c_str(),
                        static_cast<git_time_t>(seconds.count()), 0) != 0)
    return invalid_argument("gitWriteBack.author: " + last_git_error());
  const git_commit* parents[] = {head_commit.get()};
  git_oid commit_oid;
  if (options_.sign) {
    git_buf buffer = GIT_BUF_INIT;
    if (git_commit_create_buffer(&buffer, repo, author.get(), author.get(), nullptr,
                                 message.c_str(), tree.get(), 1, parents) != 0)
      return internal_error("revert commit: " + last_git_error());
    const std::string raw(buffer.ptr, buffer.size);
    git_buf_dispose(&buffer);
    auto signature = options_.sign(raw);
    if (!signature.is_ok())
      return Status(signature.status().code(), "signing the revert commit: " +
                                                   signature.status().message());
    if (git_commit_create_with_signature(&commit_oid, repo, raw.c_str(), signature->c_str(),
                                         "gpgsig") != 0)
      return internal_error("signed revert commit: " + last_git_error());
  } else if (git_commit_create(&commit_oid, repo, nullptr, author.get(), author.get(), nullptr,
                               message.c_str(), tree.get(), 1, parents) != 0) {
    return internal_error("revert commit: " + last_git_error());
  }
  const std::string sha = hex(&commit_oid);

  // Read back as the watcher will read it: valid, stable's template, nothing else changed.
  auto after = builder.build(repo, sha);
  if (!after.is_ok()) return after.status();
  if (!after->ok())
    return failed_precondition(fmt::format("reverting commit {} would make {} invalid ({}); not "
                                           "pushed",
                                           short_sha(reverted), config_.ref,
                                           first_diagnostic(*after)));
  const manifests::LoadedRollout* reverted_rollout = find_rollout(*after, req.rollout);
  if (!reverted_rollout || !(reverted_rollout->rollout.spec.template_ == req.stable_template))
    return failed_precondition(fmt::format(
        "reverting commit {} does not give {} the template of stable revision {} (version {}): "
        "other commits changed it too; not pushed",
        short_sha(reverted), req.rollout, req.stable_revision, req.stable_version));
  for (const auto& other : after->manifests.rollouts) {
    if (other.rollout.metadata.name == req.rollout) continue;
    const manifests::LoadedRollout* was = find_rollout(*head_snap, other.rollout.metadata.name);
    if (!was || !(was->rollout == other.rollout))
      return failed_precondition(fmt::format(
          "reverting commit {} would also change rollout {} in {}; not pushed", short_sha(reverted),
          other.rollout.metadata.name, file));
  }
  if (after->manifests.rollouts.size() != head_snap->manifests.rollouts.size() ||
      after->manifests.templates.size() != head_snap->manifests.templates.size())
    return failed_precondition(fmt::format(
        "reverting commit {} would add or remove manifests in {}; not pushed", short_sha(reverted),
        file));
  for (size_t i = 0; i < after->manifests.templates.size(); ++i) {
    if (!(after->manifests.templates[i].templ == head_snap->manifests.templates[i].templ))
      return failed_precondition(fmt::format(
          "reverting commit {} would also change AnalysisTemplate {}; not pushed",
          short_sha(reverted), after->manifests.templates[i].templ.metadata.name));
  }
  Built built;
  built.sha = sha;
  built.reverted = reverted;
  built.file = file;
  return built;
}

Result<RevertResult> GitWriter::revert(const RevertRequest& req) {
  if (!repo_) {
    auto opened = GitRepository::open_mirror(config_);
    if (!opened.is_ok()) return opened.status();
    repo_ = std::move(*opened);
  }
  RevertResult result;
  std::string last_head;
  std::string last_refusal;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    auto fetched = repo_->fetch();
    if (!fetched.is_ok()) return fetched.status();
    const std::string branch_ref = "refs/remotes/origin/" + config_.ref;
    auto head = repo_->resolve(branch_ref);
    if (!head.is_ok())
      return failed_precondition("'" + config_.ref +
                                 "' is not a branch of the repository; write-back pushes to a "
                                 "branch");
    if (!last_head.empty() && *head == last_head) {
      return failed_precondition(fmt::format(
          "push to {} refused: {}; the branch did not move, so Sluice does not try again",
          config_.ref, last_refusal));
    }
    last_head = *head;
    if (auto earlier = find_earlier_revert(repo_->raw(), *head, req)) {
      result.pushed = false;
      result.commit = *earlier;
      return result;
    }
    auto built = build(*head, req);
    if (!built.is_ok()) return built.status();
    result.file = built->file;
    if (built->already_stable) {
      result.pushed = false;
      result.commit = built->sha;
      return result;
    }
    git_oid oid = *to_oid(built->sha);
    RefPtr ref;
    if (git_reference_create(ref.out(), repo_->raw(), kLocalRef, &oid, /*force=*/1,
                             "sluice write-back") != 0)
      return internal_error("local ref for the revert: " + last_git_error());
    if (options_.before_push) options_.before_push(attempt);
    result.attempts = attempt;
    auto pushed = repo_->push(kLocalRef, "refs/heads/" + config_.ref);
    if (!pushed.is_ok()) return pushed.status();
    if (pushed->accepted) {
      result.pushed = true;
      result.commit = built->sha;
      result.reverted_commit = built->reverted;
      return result;
    }
    last_refusal = pushed->message.empty() ? "refused" : pushed->message;
  }
  return Status(StatusCode::kFailedPrecondition,
                fmt::format("push to {} refused {} times, the branch moved each time (last: {}); "
                            "Sluice never force-pushes and gave up",
                            config_.ref, options_.max_attempts, last_refusal));
}

}  // namespace sluice::gitops
