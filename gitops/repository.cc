#include "gitops/repository.h"

#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "gitops/deadline_stream.h"
#include "gitops/known_hosts.h"

namespace sluice::gitops {
namespace fs = std::filesystem;

namespace {

// RAII for libgit2 handles.
template <typename T, void (*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using RefPtr = GitPtr<git_reference, git_reference_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;

bool is_url(const std::string& s) { return s.find("://") != std::string::npos; }

Result<std::string> read_secret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read secret file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Everything the libgit2 callbacks of one fetch need. Lives on the fetching thread's stack.
struct FetchContext {
  const RepoConfig* config = nullptr;
  // The fetch is an I/O boundary: the deadline is wall-clock-independent steady time, not
  // controller time (a simulated clock must not stall a real socket).
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
  int credential_attempts = 0;
  std::string callback_error;  // a user-facing reason set by a callback that aborted
  std::string push_refused;    // push: the remote's status for a refused ref ("" = accepted)
};

int check_deadline(FetchContext* ctx) {
  if (std::chrono::steady_clock::now() > ctx->deadline) {
    ctx->timed_out = true;
    return -1;
  }
  return 0;
}

int on_transfer(const git_indexer_progress*, void* payload) {
  return check_deadline(static_cast<FetchContext*>(payload));
}

int on_sideband(const char*, int, void* payload) {
  return check_deadline(static_cast<FetchContext*>(payload));
}

int on_credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                   unsigned int allowed_types, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  const RepoAuth& auth = ctx->config->auth;
  // libgit2 calls again after a rejected credential; one attempt per kind, then give up
  // instead of looping forever.
  if (++ctx->credential_attempts > 2) {
    ctx->callback_error = "authentication failed";
    return GIT_EUSER;
  }
  if ((allowed_types & GIT_CREDENTIAL_SSH_KEY) && auth.ssh_key_file) {
    std::string passphrase;
    if (auth.ssh_passphrase_file) {
      auto p = read_secret(*auth.ssh_passphrase_file);
      if (!p) {
        ctx->callback_error = p.status().message();
        return GIT_EUSER;
      }
      passphrase = *p;
    }
    const char* user = username_from_url ? username_from_url
                       : auth.username   ? auth.username->c_str()
                                         : "git";
    return git_credential_ssh_key_new(out, user, nullptr, auth.ssh_key_file->c_str(),
                                      passphrase.empty() ? nullptr : passphrase.c_str());
  }
  if ((allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && auth.password_file) {
    auto secret = read_secret(*auth.password_file);
    if (!secret) {
      ctx->callback_error = secret.status().message();
      return GIT_EUSER;
    }
    std::string user = auth.username       ? *auth.username
                       : username_from_url ? username_from_url
                                           : "x-access-token";
    return git_credential_userpass_plaintext_new(out, user.c_str(), secret->c_str());
  }
  ctx->callback_error = "the remote asks for credentials and none are configured";
  return GIT_EUSER;
}

int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
    const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
    if (!ctx->config->auth.known_hosts_file) {
      ctx->callback_error =
          "ssh host key of " + std::string(host) + " not verified: no known_hosts file configured";
      return GIT_EUSER;
    }
    if (!(hostkey->type & GIT_CERT_SSH_RAW)) {
      ctx->callback_error = "ssh host key of " + std::string(host) + " not available";
      return GIT_EUSER;
    }
    Status st = verify_known_host(*ctx->config->auth.known_hosts_file, host,
                                  std::string(hostkey->hostkey, hostkey->hostkey_len));
    if (!st) {
      ctx->callback_error = st.message();
      return GIT_EUSER;
    }
    return 0;
  }
  // TLS: accept only what the system trust store validated.
  if (valid) return 0;
  ctx->callback_error = "TLS certificate of " + std::string(host) + " is not trusted";
  return GIT_ECERTIFICATE;
}

Result<std::string> peel_to_commit_sha(git_repository* repo, const char* refname) {
  ObjectPtr obj;
  if (git_revparse_single(obj.out(), repo, refname) != 0) return not_found(last_git_error());
  ObjectPtr commit;
  if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) != 0)
    return invalid_argument(std::string(refname) + " is not a commit");
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, git_object_id(commit.get()));
  return std::string(hex);
}

// Writes every entry of tree below dir. Symlinks that leave the tree are not created.
// Regular files are shared between checkouts by hard link through `blobs` (one file per blob id
// and mode, read-only like every checkout file): a commit that changes a manifest but not the
// binaries beside it links them instead of inflating and writing megabytes again, which is most
// of a new revision's checkout time (bench_push).
struct ExportContext {
  git_repository* repo;
  fs::path dir;
  fs::path blobs;
  Status status;
};

int export_entry(const char* root, const git_tree_entry* entry, void* payload) {
  auto* ctx = static_cast<ExportContext*>(payload);
  fs::path rel = fs::path(root) / git_tree_entry_name(entry);
  fs::path target = ctx->dir / rel;
  std::error_code ec;
  git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode == GIT_FILEMODE_TREE) {
    fs::create_directories(target, ec);
  } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
             mode == GIT_FILEMODE_LINK) {
    fs::path shared;
    if (mode != GIT_FILEMODE_LINK) {
      char hex[GIT_OID_HEXSZ + 1] = {};
      git_oid_tostr(hex, sizeof hex, git_tree_entry_id(entry));
      shared = ctx->blobs / (std::string(hex) + (mode == GIT_FILEMODE_BLOB_EXECUTABLE ? ".x" : ""));
      if (::link(shared.c_str(), target.c_str()) == 0) return 0;  // the same bytes, already out
    }
    BlobPtr blob;
    if (git_blob_lookup(blob.out(), ctx->repo, git_tree_entry_id(entry)) != 0) {
      ctx->status = data_loss("missing blob for " + rel.string() + ": " + last_git_error());
      return -1;
    }
    const char* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
    std::string content(data, static_cast<size_t>(git_blob_rawsize(blob.get())));
    if (mode == GIT_FILEMODE_LINK) {
      fs::path resolved = (rel.parent_path() / content).lexically_normal();
      if (fs::path(content).is_absolute() || resolved.empty() || *resolved.begin() == "..")
        return 0;  // escapes the checkout: never materialised
      fs::create_symlink(content, target, ec);
    } else {
      std::ofstream out(target, std::ios::binary);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
      out.close();
      if (!out) ec = std::make_error_code(std::errc::io_error);
      if (!ec) ::chmod(target.c_str(), mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0555 : 0444);
      // Offer it to later checkouts; without the link (a race, EMLINK) they write their own.
      if (!ec) (void)::link(target.c_str(), shared.c_str());
    }
  }
  // Submodules (GIT_FILEMODE_COMMIT) are not fetched and are skipped.
  if (ec) {
    ctx->status = internal_error("writing " + target.string() + ": " + ec.message());
    return -1;
  }
  return 0;
}

// Each link was checked alone (lexically) when it was written, but links compose: with
// "sub/up -> .." the link "sub/l1 -> up/.." reads as "sub" and resolves to the checkout's
// parent. So once the tree is out, every link is resolved for real and removed when it leads
// out of `root` (or loops). Removing a link can only make others dangle, never escape.
Status remove_escaping_links(const fs::path& root) {
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return internal_error("resolving " + root.string() + ": " + ec.message());
  std::vector<fs::path> escaping;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_symlink(type_ec)) continue;
    std::error_code resolve_ec;
    const fs::path real = fs::weakly_canonical(it->path(), resolve_ec);
    auto [root_end, real_it] =
        std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end());
    if (resolve_ec || root_end != real_root.end()) escaping.push_back(it->path());
  }
  if (ec) return internal_error("walking " + root.string() + ": " + ec.message());
  for (const auto& link : escaping) {
    fs::remove(link, ec);
    if (ec) return internal_error("removing " + link.string() + ": " + ec.message());
  }
  return Status::ok();
}

}  // namespace

std::string last_git_error() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "";
}

void ensure_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    install_deadline_stream();
  });
}

GitRepository::GitRepository(git_repository* repo, RepoConfig config)
    : repo_(repo), config_(std::move(config)) {}

GitRepository::~GitRepository() { git_repository_free(repo_); }

Result<std::unique_ptr<GitRepository>> GitRepository::open_mirror(const RepoConfig& in) {
  ensure_libgit2();
  RepoConfig config = in;
  if (config.url.empty()) return invalid_argument("repository url is empty");
  if (config.state_dir.empty()) return invalid_argument("state directory is empty");
  if (!is_url(config.url)) config.url = fs::absolute(config.url).lexically_normal().string();
  fs::path mirror = mirror_path(config.state_dir);
  std::error_code ec;
  fs::create_directories(mirror.parent_path() / "checkouts", ec);
  if (ec) return internal_error("creating " + mirror.parent_path().string() + ": " + ec.message());

  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, mirror.c_str()) != 0 &&
      git_repository_init(&repo, mirror.c_str(), /*is_bare=*/1) != 0)
    return internal_error("cannot create mirror " + mirror.string() + ": " + last_git_error());
  std::unique_ptr<GitRepository> result(new GitRepository(repo, config));

  return result;
}

std::string GitRepository::mirror_path(const std::string& state_dir) {
  return (fs::path(state_dir) / "git" / "mirror.git").string();
}

Result<std::unique_ptr<GitRepository>> GitRepository::open_existing(const std::string& path,
                                                                    const std::string& state_dir) {
  ensure_libgit2();
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, path.c_str(), 0, nullptr) != 0)
    return not_found("not a git repository: " + path + ": " + last_git_error());
  RepoConfig config;
  config.url = path;
  config.state_dir = state_dir;
  return std::unique_ptr<GitRepository>(new GitRepository(repo, std::move(config)));
}

Result<std::string> GitRepository::current_head() const {
  std::string branch = "refs/remotes/origin/" + config_.ref;
  auto head = peel_to_commit_sha(repo_, branch.c_str());
  if (head) return head;
  std::string tag = "refs/tags/" + config_.ref;
  auto tagged = peel_to_commit_sha(repo_, tag.c_str());
  if (tagged) return tagged;
  return not_found("branch or tag '" + config_.ref + "' not found in " + redact_url(config_.url));
}

Result<FetchResult> GitRepository::fetch() {
  FetchResult out;
  if (auto prev = current_head()) out.previous_head = *prev;

  // An anonymous in-memory remote with explicit refspecs: the mirror's config holds no remote
  // (the URL may change between runs), and named-remote lookup in libgit2 1.5 leaks pcre2 match
  // data on every call.
  RemotePtr remote;
  git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
  create.repository = repo_;
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(remote.out(), config_.url.c_str(), &create) != 0)
    return invalid_argument("remote " + redact_url(config_.url) + ": " +
                            redact_urls_in(last_git_error()));
  const char* specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
  git_strarray refspecs = {const_cast<char**>(specs), 2};

  FetchContext ctx;
  ctx.config = &config_;
  ctx.deadline = std::chrono::steady_clock::now() + config_.fetch_timeout;
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.payload = &ctx;
  opts.callbacks.credentials = on_credentials;
  opts.callbacks.certificate_check = on_certificate;
  opts.callbacks.transfer_progress = on_transfer;
  opts.callbacks.sideband_progress = on_sideband;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // the tag refspec fetches (and moves) them
  // Every socket libgit2 opens during this call gets these limits (and is shut down at the
  // deadline by the scope's watchdog).
  FetchDeadlines deadlines({config_.connect_timeout, config_.io_timeout}, config_.fetch_timeout);
  if (git_remote_fetch(remote.get(), &refspecs, &opts, "sluice fetch") != 0) {
    bool timed_out = ctx.timed_out || deadlines.timed_out();
    std::string why =
        deadlines.timed_out() ? "timed out: " + deadlines.reason()
        : ctx.timed_out ? "timed out after " + std::to_string(config_.fetch_timeout.count()) + "ms"
        : !ctx.callback_error.empty() ? ctx.callback_error
                                      : last_git_error();
    // libgit2 messages may quote the URL; never let credentials in it escape.
    why = redact_urls_in(why);
    std::string message = "fetch " + redact_url(config_.url) + ": " + why;
    if (timed_out) return Status(StatusCode::kDeadlineExceeded, message);
    return unavailable(message);
  }
  auto head = current_head();
  if (!head) return head.status();
  out.head = *head;
  if (!out.previous_head.empty() && out.previous_head != out.head) {
    git_oid new_oid, old_oid;
    git_oid_fromstr(&new_oid, out.head.c_str());
    git_oid_fromstr(&old_oid, out.previous_head.c_str());
    out.forced = git_graph_descendant_of(repo_, &new_oid, &old_oid) != 1;
  }
  return out;
}

namespace {
int on_push_update(const char* /*refname*/, const char* status, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (status) ctx->push_refused = status;
  return 0;
}
}  // namespace

Result<PushResult> GitRepository::push(const std::string& local_ref,
                                       const std::string& remote_ref) {
  RemotePtr remote;
  git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
  create.repository = repo_;
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(remote.out(), config_.url.c_str(), &create) != 0)
    return invalid_argument("remote " + redact_url(config_.url) + ": " +
                            redact_urls_in(last_git_error()));
  // No leading '+': libgit2 refuses a non-fast-forward update before sending anything, and the
  // remote's receive-pack compares the old value it advertised (compare-and-swap).
  std::string spec = local_ref + ":" + remote_ref;
  char* specs[] = {spec.data()};
  git_strarray refspecs = {specs, 1};

  FetchContext ctx;
  ctx.config = &config_;
  ctx.deadline = std::chrono::steady_clock::now() + config_.fetch_timeout;
  git_push_options opts = GIT_PUSH_OPTIONS_INIT;
  opts.callbacks.payload = &ctx;
  opts.callbacks.credentials = on_credentials;
  opts.callbacks.certificate_check = on_certificate;
  opts.callbacks.sideband_progress = on_sideband;
  opts.callbacks.push_update_reference = on_push_update;
  FetchDeadlines deadlines({config_.connect_timeout, config_.io_timeout}, config_.fetch_timeout);
  const int rc = git_remote_push(remote.get(), &refspecs, &opts);
  PushResult out;
  if (rc == GIT_ENONFASTFORWARD) {
    out.non_fast_forward = true;
    out.message = redact_urls_in(last_git_error());
    return out;
  }
  if (rc != 0) {
    bool timed_out = ctx.timed_out || deadlines.timed_out();
    const std::string limit = std::to_string(config_.fetch_timeout.count());
    std::string why = deadlines.timed_out()         ? "timed out: " + deadlines.reason()
                      : ctx.timed_out               ? "timed out after " + limit + "ms"
                      : !ctx.callback_error.empty() ? ctx.callback_error
                                                    : last_git_error();
    std::string message = "push " + redact_url(config_.url) + ": " + redact_urls_in(why);
    if (timed_out) return Status(StatusCode::kDeadlineExceeded, message);
    return unavailable(message);
  }
  if (!ctx.push_refused.empty()) {
    out.message = redact_urls_in(ctx.push_refused);
    // receive-pack says "non-fast-forward" or "fetch first"; a lost compare-and-swap is "failed
    // to update ref" / "cannot lock ref". The caller tells a moved branch by fetching again.
    out.non_fast_forward = out.message.find("fast-forward") != std::string::npos ||
                           out.message.find("fetch first") != std::string::npos;
    return out;
  }
  out.accepted = true;
  return out;
}

Result<std::string> GitRepository::resolve(const std::string& rev) const {
  auto sha = peel_to_commit_sha(repo_, rev.c_str());
  if (!sha) return not_found("unknown revision '" + rev + "'");
  return sha;
}

Result<std::string> GitRepository::checkout(const std::string& sha) {
  if (config_.state_dir.empty()) return failed_precondition("checkout needs a state directory");
  fs::path checkouts = fs::path(config_.state_dir) / "git" / "checkouts";
  fs::path dir = checkouts / sha;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return dir.string();

  git_oid oid;
  if (sha.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, sha.c_str()) != 0)
    return invalid_argument("not a commit sha: " + sha);
  CommitPtr commit;
  if (git_commit_lookup(commit.out(), repo_, &oid) != 0)
    return not_found("commit " + sha + " not in mirror");
  TreePtr tree;
  if (git_commit_tree(tree.out(), commit.get()) != 0)
    return data_loss("tree of " + sha + ": " + last_git_error());

  static std::atomic<uint64_t> counter{0};
  fs::path tmp = checkouts / (".tmp-" + sha + "-" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1)));
  fs::create_directories(tmp, ec);
  if (ec) return internal_error("creating " + tmp.string() + ": " + ec.message());
  ExportContext ctx{repo_, tmp, checkouts / ".blobs", Status::ok()};
  fs::create_directories(ctx.blobs, ec);
  if (ec) return internal_error("creating " + ctx.blobs.string() + ": " + ec.message());
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, export_entry, &ctx) != 0 || !ctx.status) {
    fs::remove_all(tmp, ec);
    return ctx.status.is_ok() ? internal_error("exporting " + sha + ": " + last_git_error())
                              : ctx.status;
  }
  if (Status st = remove_escaping_links(tmp); !st.is_ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove_all(tmp, ignore);
    if (fs::is_directory(dir, ignore)) return dir.string();  // another caller won the race
    return internal_error("renaming checkout " + sha + ": " + ec.message());
  }
  return dir.string();
}

}  // namespace sluice::gitops
