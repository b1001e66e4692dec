// Where Sluice finds its Kubernetes credentials, as kubectl does (docs: reference/kubernetes.md):
// a kubeconfig file, or the in-cluster service account.
//
// Contract: every error is a Status fit for a user that names the source (the kubeconfig path,
// or "in-cluster config") and the field, e.g.
//   kubeconfig /x/config: context "prod" not found (contexts: dev, staging)
//   kubeconfig /x/config: users[0].user.client-key: cannot read /a/b: No such file or directory
// Secrets (tokens, keys, their file contents) never appear in a message.
//
// Files named by the config (CA, client certificate and key) are read once, at load; only the
// token file is read again later, by the RestClient, when it changes.
//
// Threads: these are free functions with no shared state (they read the environment and files);
// call them from any thread, but not while another thread changes the environment.
#pragma once

#include <string>

#include "base/status.h"

namespace sluice::kube {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ClusterConfig {
  std::string server;           // "https://127.0.0.1:6443" (https only)
  std::string ca_pem;           // CA bundle; empty = the system store
  std::string token;            // bearer token (`token`, or the in-cluster token as first read)
  std::string token_file;       // absolute path; re-read when it changes (tokens rotate)
  std::string client_cert_pem;  // client-certificate-data / client-certificate
  std::string client_key_pem;   // client-key-data / client-key
  std::string tls_server_name;  // `tls-server-name`: SNI and the name the certificate must carry
  std::string namespace_;       // context namespace, in-cluster namespace, or "default"
  std::string source;  // "kubeconfig /path (context NAME)" or "in-cluster service account"
};

// Parses a kubeconfig and picks `context` (empty = current-context). Relative file paths resolve
// against the kubeconfig's folder, as kubectl does. A field and its -data twin (for example
// certificate-authority and certificate-authority-data) may not both be set.
// Refused, each with an error naming the field: `insecure-skip-tls-verify: true` (the server
// certificate is always verified), an http:// server, `proxy-url`, and credentials Sluice cannot
// use (`exec`, `auth-provider`, `username`/`password`). Only one file is read: kubectl's merging
// of several kubeconfigs is not supported.
Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context = "");

// In-cluster: KUBERNETES_SERVICE_HOST/_PORT and {token, ca.crt, namespace} in `sa_dir`. The token
// and the CA are required. The namespace comes, as in client-go, from $POD_NAMESPACE, else the
// namespace file, else "default". token_file is set so that a rotated token is picked up.
Result<ClusterConfig> load_in_cluster(const std::string& sa_dir = kServiceAccountDir);

// kubectl's order: `explicit_path` (--kubeconfig) when not empty; else the first entry of
// $KUBECONFIG (a ':'-separated list); else in-cluster when KUBERNETES_SERVICE_HOST is set and
// `sa_dir`/token exists (client-go's rule, so a shell inside a Pod without a token still reaches
// ~/.kube/config) and no `context` was asked for (contexts exist only in kubeconfigs); else
// $HOME/.kube/config. The first source found is used, and its own errors are returned as they
// are. When none is found, the error (kNotFound) lists what was tried and why each was skipped.
Result<ClusterConfig> resolve_config(const std::string& explicit_path,
                                     const std::string& context = "",
                                     const std::string& sa_dir = kServiceAccountDir);

}  // namespace sluice::kube
