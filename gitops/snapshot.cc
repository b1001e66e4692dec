#include "gitops/snapshot.h"

#include <git2.h>

#include <algorithm>
#include <filesystem>

#include "gitops/repository.h"

namespace sluice::gitops {
namespace fs = std::filesystem;
using manifests::Diagnostic;
using manifests::ManifestSet;
using manifests::SourceFile;

namespace {

struct TreeDeleter {
  void operator()(git_tree* t) const { git_tree_free(t); }
};
struct CommitDeleter {
  void operator()(git_commit* c) const { git_commit_free(c); }
};
struct EntryDeleter {
  void operator()(git_tree_entry* e) const { git_tree_entry_free(e); }
};
using TreeHandle = std::unique_ptr<git_tree, TreeDeleter>;
using EntryHandle = std::unique_ptr<git_tree_entry, EntryDeleter>;

bool is_manifest_name(const std::string& name) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".yaml") || ends_with(".yml");
}

std::string oid_hex(const git_oid* oid) {
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, oid);
  return hex;
}

std::string normalize_root(const std::string& path) {
  std::string p = fs::path(path).lexically_normal().generic_string();
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == "." || p == "/") p.clear();
  return p;
}

Diagnostic file_diagnostic(const std::string& file, std::string message) {
  Diagnostic d;
  d.pos = {file, 1, 1};
  d.message = std::move(message);
  return d;
}

struct WalkContext {
  git_repository* repo;
  git_tree* root_tree;  // the commit's top-level tree, for resolving symlinks
  std::string root;     // manifests root, repository-relative ("" = top)
  const manifests::LoadLimits* limits;
  std::vector<ManifestFile> refs;
  std::vector<Diagnostic> diagnostics;
  std::string error;
};

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

// Resolves a symlinked manifest to the blob it names, if that stays below the manifests root.
bool resolve_symlink(WalkContext* ctx, const std::string& link_path, const git_oid* link_blob,
                     git_oid* out) {
  std::string current = link_path;
  git_oid blob_id = *link_blob;
  for (int hops = 0; hops < 8; ++hops) {
    git_blob* blob = nullptr;
    if (git_blob_lookup(&blob, ctx->repo, &blob_id) != 0) return false;
    std::string target(static_cast<const char*>(git_blob_rawcontent(blob)),
                       static_cast<size_t>(git_blob_rawsize(blob)));
    git_blob_free(blob);
    if (fs::path(target).is_absolute()) return false;
    std::string resolved =
        (fs::path(current).parent_path() / target).lexically_normal().generic_string();
    bool inside =
        ctx->root.empty() ? resolved.rfind("..", 0) != 0 : resolved.rfind(ctx->root + "/", 0) == 0;
    if (!inside) return false;
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, ctx->root_tree, resolved.c_str()) != 0) return false;
    EntryHandle entry(raw);
    git_filemode_t mode = git_tree_entry_filemode(entry.get());
    if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
      *out = *git_tree_entry_id(entry.get());
      return true;
    }
    if (mode != GIT_FILEMODE_LINK) return false;
    current = resolved;
    blob_id = *git_tree_entry_id(entry.get());
  }
  return false;
}

int collect_entry(const char* dir, const git_tree_entry* entry, void* payload) {
  auto* ctx = static_cast<WalkContext*>(payload);
  std::string name = git_tree_entry_name(entry);
  git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT || !is_manifest_name(name)) return 0;
  std::string path = join(ctx->root, std::string(dir) + name);
  git_oid blob = *git_tree_entry_id(entry);
  if (mode == GIT_FILEMODE_LINK && !resolve_symlink(ctx, path, &blob, &blob)) {
    ctx->diagnostics.push_back(file_diagnostic(
        path, "symlink points outside " + (ctx->root.empty() ? "the repository" : ctx->root) +
                  " (or to nothing); refused"));
    return 0;
  }
  ctx->refs.push_back({path, oid_hex(&blob)});
  return 0;
}

}  // namespace

std::string CommitInfo::summary() const { return message.substr(0, message.find('\n')); }

Result<CommitInfo> read_commit_info(git_repository* repo, const std::string& sha) {
  git_oid oid;
  if (git_oid_fromstr(&oid, sha.c_str()) != 0) return invalid_argument("not a commit sha: " + sha);
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo, &oid) != 0)
    return not_found("commit " + sha + ": " + last_git_error());
  std::unique_ptr<git_commit, CommitDeleter> commit(raw);
  CommitInfo info;
  info.sha = sha;
  const git_signature* author = git_commit_author(commit.get());
  if (author) {
    info.author = author->name ? author->name : "";
    info.author_email = author->email ? author->email : "";
    info.time = from_unix_ms(static_cast<int64_t>(author->when.time) * 1000);
  }
  const char* message = git_commit_message(commit.get());
  info.message = message ? message : "";
  while (!info.message.empty() && info.message.back() == '\n') info.message.pop_back();
  return info;
}

SnapshotBuilder::SnapshotBuilder(std::string path, manifests::LoadLimits limits)
    : path_(normalize_root(path)), limits_(limits) {}

Snapshot SnapshotBuilder::empty() { return Snapshot{}; }

Result<Snapshot> SnapshotBuilder::build(git_repository* repo, const std::string& sha) {
  stats_ = {};
  auto info = read_commit_info(repo, sha);
  if (!info) return info.status();
  Snapshot snap;
  snap.commit = std::move(*info);

  git_oid oid;
  git_oid_fromstr(&oid, sha.c_str());
  git_commit* raw_commit = nullptr;
  if (git_commit_lookup(&raw_commit, repo, &oid) != 0) return not_found(last_git_error());
  std::unique_ptr<git_commit, CommitDeleter> commit(raw_commit);
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, commit.get()) != 0)
    return data_loss("tree of " + sha + ": " + last_git_error());
  TreeHandle root_tree(raw_tree);

  TreeHandle manifests_tree;
  if (path_.empty()) {
    manifests_tree = std::move(root_tree);
    git_commit_tree(&raw_tree, commit.get());
    root_tree.reset(raw_tree);
  } else {
    git_tree_entry* raw_entry = nullptr;
    if (git_tree_entry_bypath(&raw_entry, root_tree.get(), path_.c_str()) != 0) {
      snap.manifests.diagnostics.push_back(
          file_diagnostic(path_, "path '" + path_ + "' not found in commit " + sha.substr(0, 12)));
      return snap;
    }
    EntryHandle entry(raw_entry);
    git_object* obj = nullptr;
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE ||
        git_tree_entry_to_object(&obj, repo, entry.get()) != 0) {
      snap.manifests.diagnostics.push_back(
          file_diagnostic(path_, "path '" + path_ + "' is not a directory"));
      return snap;
    }
    manifests_tree.reset(reinterpret_cast<git_tree*>(obj));
  }

  WalkContext ctx{repo, root_tree.get(), path_, &limits_, {}, {}, {}};
  if (git_tree_walk(manifests_tree.get(), GIT_TREEWALK_PRE, collect_entry, &ctx) != 0)
    return data_loss("reading tree of " + sha + ": " + last_git_error());
  std::sort(ctx.refs.begin(), ctx.refs.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.path < b.path; });

  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo) != 0) return internal_error(last_git_error());
  std::unique_ptr<git_odb, void (*)(git_odb*)> odb_handle(odb, git_odb_free);
  decltype(cache_) next_cache;
  ManifestSet& set = snap.manifests;
  // Files whose blob is not cached are parsed together: one parse-guard child for the batch.
  std::vector<const ManifestFile*> kept;
  std::vector<std::shared_ptr<const ManifestSet>> parsed;
  std::vector<size_t> fresh_index;
  std::vector<SourceFile> fresh_sources;
  for (const ManifestFile& ref : ctx.refs) {
    git_oid blob_oid;
    git_oid_fromstr(&blob_oid, ref.blob.c_str());
    size_t size = 0;
    git_object_t type;
    if (git_odb_read_header(&size, &type, odb, &blob_oid) != 0)
      return data_loss("blob " + ref.blob + " (" + ref.path + "): " + last_git_error());
    if (size > limits_.max_file_bytes) {
      ctx.diagnostics.push_back(
          file_diagnostic(ref.path, "file is " + std::to_string(size) + " bytes; the limit is " +
                                        std::to_string(limits_.max_file_bytes) + " bytes"));
      continue;
    }
    ++stats_.files;
    kept.push_back(&ref);
    if (auto it = cache_.find(std::make_pair(ref.path, ref.blob)); it != cache_.end()) {
      parsed.push_back(it->second);
      ++stats_.files_reused;
    } else {
      auto source = read_source(repo, ref);
      if (!source) return source.status();
      parsed.emplace_back();
      fresh_index.push_back(parsed.size() - 1);
      fresh_sources.push_back(std::move(*source));
      ++stats_.files_parsed;
    }
  }
  std::vector<ManifestSet> fresh = manifests::load_each(fresh_sources, limits_);
  for (size_t k = 0; k < fresh.size(); ++k) {
    parsed[fresh_index[k]] = std::make_shared<const ManifestSet>(std::move(fresh[k]));
  }
  for (size_t k = 0; k < kept.size(); ++k) {
    if (parsed[k]->unguarded_files == 0) {
      next_cache.emplace(std::make_pair(kept[k]->path, kept[k]->blob), parsed[k]);
    }
    set.rollouts.insert(set.rollouts.end(), parsed[k]->rollouts.begin(),
                        parsed[k]->rollouts.end());
    set.templates.insert(set.templates.end(), parsed[k]->templates.begin(),
                         parsed[k]->templates.end());
    set.diagnostics.insert(set.diagnostics.end(), parsed[k]->diagnostics.begin(),
                           parsed[k]->diagnostics.end());
  }
  cache_ = std::move(next_cache);
  snap.files = ctx.refs;
  // Same result as load_files() over every file: cross-document checks run on the whole set.
  manifests::finish_set(set);
  for (auto& d : ctx.diagnostics) set.diagnostics.push_back(std::move(d));
  std::sort(snap.manifests.diagnostics.begin(), snap.manifests.diagnostics.end());
  return snap;
}

Result<SourceFile> SnapshotBuilder::read_source(git_repository* repo, const ManifestFile& ref) {
  git_oid oid;
  git_oid_fromstr(&oid, ref.blob.c_str());
  git_blob* blob = nullptr;
  if (git_blob_lookup(&blob, repo, &oid) != 0)
    return data_loss("blob " + ref.blob + " (" + ref.path + "): " + last_git_error());
  SourceFile source{ref.path, std::string(static_cast<const char*>(git_blob_rawcontent(blob)),
                                          static_cast<size_t>(git_blob_rawsize(blob)))};
  git_blob_free(blob);
  return source;
}

}  // namespace sluice::gitops
