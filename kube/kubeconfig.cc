#include "kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <vector>

#include "kube/files.h"
#include "kube/server_url.h"

namespace sluice::kube {
namespace {

std::string getenv_string(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// Standard base64 (RFC 4648), whitespace ignored, padding optional. nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  unsigned accumulator = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '+') {
      value = 62;
    } else if (c == '/') {
      value = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (padding > 0) return std::nullopt;  // data after '='
    accumulator = (accumulator << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || padding > 2) return std::nullopt;  // a dangling sextet is never valid
  return out;
}

// Reads one kubeconfig file; every error names the file and the field.
class KubeconfigReader {
 public:
  KubeconfigReader(std::string path, std::string dir)
      : path_(std::move(path)), dir_(std::move(dir)) {}

  Status error(const std::string& field, const std::string& what) const {
    return invalid_argument("kubeconfig " + path_ + ": " + (field.empty() ? "" : field + ": ") +
                            what);
  }
  // Keeps the code of `cause` (kNotFound, kPermissionDenied) and prefixes file and field.
  Status error(const std::string& field, const Status& cause) const {
    return Status(cause.code(), "kubeconfig " + path_ + ": " + field + ": " + cause.message());
  }

  // A string field of `map`: "" when absent or null, an error when it is not a scalar.
  Result<std::string> string_field(const YAML::Node& map, const std::string& key,
                                   const std::string& where) const {
    const YAML::Node node = map[key];
    if (!node.IsDefined() || node.IsNull()) return std::string();
    if (!node.IsScalar()) return error(where.empty() ? key : where + "." + key, "must be a string");
    return node.Scalar();
  }

  // kubectl resolves relative paths against the kubeconfig's folder.
  std::string resolve(const std::string& file) const {
    if (file.empty() || file.front() == '/') return file;
    return (std::filesystem::path(dir_) / file).lexically_normal().string();
  }

  // The bytes of `key` (a file path) or `key`-data (base64); "" when neither is set.
  Result<std::string> file_or_data(const YAML::Node& map, const std::string& key,
                                   const std::string& where) const {
    auto file = string_field(map, key, where);
    if (!file) return file.status();
    auto data = string_field(map, key + "-data", where);
    if (!data) return data.status();
    if (!file->empty() && !data->empty()) {
      return error(where, key + " and " + key + "-data are both set: keep one");
    }
    if (!data->empty()) {
      auto decoded = base64_decode(*data);
      if (!decoded) return error(where + "." + key + "-data", "not valid base64");
      return std::move(*decoded);
    }
    if (file->empty()) return std::string();
    auto bytes = read_credential_file(resolve(*file));
    if (!bytes) return error(where + "." + key, bytes.status());
    return bytes;
  }

  // The index of the entry called `name` in the list `list_key` ({name, ...} maps), or an error.
  Result<size_t> find_named(const YAML::Node& root, const std::string& list_key,
                            const std::string& kind, const std::string& name,
                            const std::string& referenced_from) const {
    const YAML::Node list = root[list_key];
    std::vector<std::string> names;
    if (list.IsDefined() && !list.IsNull()) {
      if (!list.IsSequence()) return error(list_key, "must be a list");
      for (size_t i = 0; i < list.size(); ++i) {
        const YAML::Node entry = list[i];
        const std::string where = list_key + "[" + std::to_string(i) + "]";
        if (!entry.IsMap()) return error(where, "must be a mapping");
        auto entry_name = string_field(entry, "name", where);
        if (!entry_name) return entry_name.status();
        if (*entry_name == name) return i;
        names.push_back(*entry_name);
      }
    }
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return error(referenced_from,
                 kind + " \"" + name + "\" not found (" + list_key + ": " +
                     (known.empty() ? "none" : known) + ")");
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;  // as given, for messages
  std::string dir_;   // absolute folder, for relative paths
};

// Fills the server and TLS fields from clusters[index].cluster.
Status read_cluster(const KubeconfigReader& reader, const YAML::Node& root, size_t index,
                    ClusterConfig& out) {
  const std::string where = "clusters[" + std::to_string(index) + "].cluster";
  const YAML::Node cluster = root["clusters"][index]["cluster"];
  if (!cluster.IsMap()) return reader.error(where, "missing or not a mapping");
  auto server = reader.string_field(cluster, "server", where);
  if (!server) return server.status();
  if (server->empty()) return reader.error(where + ".server", "missing");
  if (auto url = parse_server_url(*server); !url) {
    return reader.error(where + ".server", url.status().message());
  }
  out.server = *server;
  const YAML::Node insecure = cluster["insecure-skip-tls-verify"];
  if (insecure.IsDefined() && !insecure.IsNull()) {
    bool skip = false;
    if (!insecure.IsScalar() || !YAML::convert<bool>::decode(insecure, skip)) {
      return reader.error(where + ".insecure-skip-tls-verify", "must be true or false");
    }
    if (skip) {
      return reader.error(where + ".insecure-skip-tls-verify",
                          "true is refused: Sluice always verifies the API server's certificate "
                          "(give certificate-authority or certificate-authority-data instead)");
    }
  }
  auto proxy = reader.string_field(cluster, "proxy-url", where);
  if (!proxy) return proxy.status();
  if (!proxy->empty()) return reader.error(where + ".proxy-url", "proxies are not supported");
  auto ca = reader.file_or_data(cluster, "certificate-authority", where);
  if (!ca) return ca.status();
  out.ca_pem = std::move(*ca);
  auto server_name = reader.string_field(cluster, "tls-server-name", where);
  if (!server_name) return server_name.status();
  out.tls_server_name = std::move(*server_name);
  return Status::ok();
}

// Fills the credential fields from users[index].user.
Status read_user(const KubeconfigReader& reader, const YAML::Node& root, size_t index,
                 ClusterConfig& out) {
  const std::string where = "users[" + std::to_string(index) + "].user";
  const YAML::Node user = root["users"][index]["user"];
  if (!user.IsDefined() || user.IsNull()) return Status::ok();  // anonymous
  if (!user.IsMap()) return reader.error(where, "must be a mapping");
  for (const char* unsupported : {"exec", "auth-provider"}) {
    if (user[unsupported].IsDefined() && !user[unsupported].IsNull()) {
      return reader.error(where + "." + unsupported,
                          "credential plugins are not supported (use a token, a tokenFile or a "
                          "client certificate)");
    }
  }
  for (const char* unsupported : {"username", "password"}) {
    if (user[unsupported].IsDefined() && !user[unsupported].IsNull()) {
      return reader.error(where + "." + unsupported,
                          "basic authentication is not supported (use a token, a tokenFile or "
                          "a client certificate)");
    }
  }
  auto token = reader.string_field(user, "token", where);
  if (!token) return token.status();
  if (!token->empty() && !is_valid_token(*token)) {
    return reader.error(where + ".token", "contains whitespace or control characters");
  }
  out.token = std::move(*token);
  auto token_file = reader.string_field(user, "tokenFile", where);
  if (!token_file) return token_file.status();
  if (!token_file->empty()) {
    out.token_file = reader.resolve(*token_file);
    // Read now so that a wrong path is reported with its field; the client reads it again.
    auto contents = read_credential_file(out.token_file);
    if (!contents) return reader.error(where + ".tokenFile", contents.status());
    if (!is_valid_token(trim_space(*contents))) {
      return reader.error(where + ".tokenFile",
                          out.token_file + " is empty or holds whitespace or control characters");
    }
  }
  auto cert = reader.file_or_data(user, "client-certificate", where);
  if (!cert) return cert.status();
  auto key = reader.file_or_data(user, "client-key", where);
  if (!key) return key.status();
  if (cert->empty() != key->empty()) {
    return reader.error(where, cert->empty() ? "client-key is set without client-certificate"
                                             : "client-certificate is set without client-key");
  }
  out.client_cert_pem = std::move(*cert);
  out.client_key_pem = std::move(*key);
  return Status::ok();
}

Result<ClusterConfig> parse_kubeconfig(const KubeconfigReader& reader, const std::string& text,
                                       const std::string& wanted_context) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return reader.error("", "line " + std::to_string(e.mark.line + 1) + ", column " +
                                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return reader.error("", "not a kubeconfig (expected a mapping)");
  auto current = reader.string_field(root, "current-context", "");
  if (!current) return current.status();
  const std::string context_name = wanted_context.empty() ? *current : wanted_context;
  if (context_name.empty()) {
    return reader.error("current-context", "not set, and no context was given");
  }
  const std::string referenced_from = wanted_context.empty() ? "current-context" : "";
  auto context_index =
      reader.find_named(root, "contexts", "context", context_name, referenced_from);
  if (!context_index) return context_index.status();
  const std::string where = "contexts[" + std::to_string(*context_index) + "].context";
  const YAML::Node context = root["contexts"][*context_index]["context"];
  if (!context.IsMap()) return reader.error(where, "missing or not a mapping");

  ClusterConfig out;
  out.source = "kubeconfig " + reader.path() + " (context " + context_name + ")";
  auto cluster_name = reader.string_field(context, "cluster", where);
  if (!cluster_name) return cluster_name.status();
  if (cluster_name->empty()) return reader.error(where + ".cluster", "missing");
  auto cluster_index =
      reader.find_named(root, "clusters", "cluster", *cluster_name, where + ".cluster");
  if (!cluster_index) return cluster_index.status();
  if (Status s = read_cluster(reader, root, *cluster_index, out); !s) return s;

  auto user_name = reader.string_field(context, "user", where);
  if (!user_name) return user_name.status();
  if (!user_name->empty()) {
    auto user_index = reader.find_named(root, "users", "user", *user_name, where + ".user");
    if (!user_index) return user_index.status();
    if (Status s = read_user(reader, root, *user_index, out); !s) return s;
  }
  auto ns = reader.string_field(context, "namespace", where);
  if (!ns) return ns.status();
  out.namespace_ = ns->empty() ? "default" : *ns;
  return out;
}

}  // namespace

Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context) {
  if (path.empty()) return invalid_argument("kubeconfig: no path given");
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  const std::string dir = ec ? "." : absolute.parent_path().string();
  const KubeconfigReader reader(path, dir);
  auto text = read_credential_file(path);
  if (!text) {
    return Status(text.status().code(), "kubeconfig " + path + ": " + text.status().message());
  }
  try {
    return parse_kubeconfig(reader, *text, context);
  } catch (const YAML::Exception& e) {
    // Node accessors throw on shapes the checks above did not foresee.
    return reader.error("", std::string("unexpected structure: ") + e.msg);
  }
}

Result<ClusterConfig> load_in_cluster(const std::string& sa_dir) {
  const std::string host = getenv_string("KUBERNETES_SERVICE_HOST");
  const std::string port = getenv_string("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return invalid_argument(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(is Sluice running in a Pod?)");
  }
  ClusterConfig out;
  out.source = "in-cluster service account";
  out.server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
               port;
  if (auto url = parse_server_url(out.server); !url) {
    return invalid_argument("in-cluster config: " + url.status().message());
  }
  out.token_file = (std::filesystem::path(sa_dir) / "token").string();
  auto token = read_credential_file(out.token_file);
  if (!token) {
    return Status(token.status().code(), "in-cluster config: " + token.status().message());
  }
  out.token = std::string(trim_space(*token));
  if (!is_valid_token(out.token)) {
    return invalid_argument("in-cluster config: " + out.token_file +
                            " is empty or holds whitespace or control characters");
  }
  auto ca = read_credential_file((std::filesystem::path(sa_dir) / "ca.crt").string());
  if (!ca) return Status(ca.status().code(), "in-cluster config: " + ca.status().message());
  out.ca_pem = std::move(*ca);
  out.namespace_ = getenv_string("POD_NAMESPACE");
  if (out.namespace_.empty()) {
    auto ns = read_credential_file((std::filesystem::path(sa_dir) / "namespace").string());
    if (ns) out.namespace_ = std::string(trim_space(*ns));
  }
  if (out.namespace_.empty()) out.namespace_ = "default";
  return out;
}

Result<ClusterConfig> resolve_config(const std::string& explicit_path, const std::string& context,
                                     const std::string& sa_dir) {
  if (!explicit_path.empty()) return load_kubeconfig(explicit_path, context);
  std::vector<std::string> tried = {"--kubeconfig (not given)"};

  const std::string list = getenv_string("KUBECONFIG");
  size_t start = 0;
  while (start <= list.size()) {
    const size_t colon = std::min(list.find(':', start), list.size());
    const std::string entry = list.substr(start, colon - start);
    if (!entry.empty()) {
      auto config = load_kubeconfig(entry, context);
      if (!config) {
        return Status(config.status().code(), config.status().message() + " (from $KUBECONFIG)");
      }
      return config;
    }
    start = colon + 1;
  }
  tried.push_back("$KUBECONFIG (not set)");

  const std::string token_path = (std::filesystem::path(sa_dir) / "token").string();
  if (getenv_string("KUBERNETES_SERVICE_HOST").empty()) {
    tried.push_back("in-cluster (KUBERNETES_SERVICE_HOST not set)");
  } else if (!context.empty()) {
    tried.push_back("in-cluster (skipped: context \"" + context + "\" names a kubeconfig context)");
  } else {
    std::error_code ec;
    if (std::filesystem::exists(token_path, ec)) return load_in_cluster(sa_dir);
    tried.push_back("in-cluster (" + token_path + " does not exist)");
  }

  const std::string home = getenv_string("HOME");
  if (home.empty()) {
    tried.push_back("~/.kube/config ($HOME not set)");
  } else {
    const std::string path = (std::filesystem::path(home) / ".kube" / "config").string();
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return load_kubeconfig(path, context);
    tried.push_back(path + " (does not exist)");
  }
  std::string message = "no Kubernetes credentials found: tried ";
  for (size_t i = 0; i < tried.size(); ++i) message += (i == 0 ? "" : ", ") + tried[i];
  return not_found(message);
}

}  // namespace sluice::kube
