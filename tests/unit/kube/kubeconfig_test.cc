// Kubeconfig and in-cluster loading, and kubectl's resolution order, on real temp files.
#include "kube/kubeconfig.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "kube_test_util.h"

using sluice::StatusCode;
using sluice::kube::load_in_cluster;
using sluice::kube::load_kubeconfig;
using sluice::kube::resolve_config;
using sluice::kube::testing::ScopedEnv;
using sluice::kube::testing::TempDir;

namespace {

const char* const kToken = "s3cr3t-token-value";
const char* const kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const char* const kCertPem = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const char* const kKeyPem = "-----BEGIN PRIVATE KEY-----\nKEY-s3cr3t\n-----END PRIVATE KEY-----\n";

std::string base64(const std::string& s) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned accumulator = 0;
  int bits = 0;
  for (unsigned char c : s) {
    accumulator = (accumulator << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += table[(accumulator >> bits) & 63];
    }
  }
  if (bits > 0) out += table[(accumulator << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// A kubeconfig with two contexts: "dev" (data fields, token) and "prod" (file fields).
std::string two_context_config() {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: dev\n"
         "clusters:\n"
         "- name: dev-cluster\n"
         "  cluster:\n"
         "    server: https://127.0.0.1:6443\n"
         "    certificate-authority-data: " +
         base64(kCaPem) +
         "\n"
         "- name: prod-cluster\n"
         "  cluster:\n"
         "    server: https://prod.example:443/k8s/clusters/c-1\n"
         "    certificate-authority: certs/ca.pem\n"
         "    tls-server-name: kubernetes.default\n"
         "contexts:\n"
         "- name: dev\n"
         "  context: {cluster: dev-cluster, user: dev-user, namespace: shop}\n"
         "- name: prod\n"
         "  context: {cluster: prod-cluster, user: prod-user}\n"
         "users:\n"
         "- name: dev-user\n"
         "  user:\n"
         "    token: " +
         kToken +
         "\n"
         "    client-certificate-data: " +
         base64(kCertPem) +
         "\n"
         "    client-key-data: " +
         base64(kKeyPem) +
         "\n"
         "- name: prod-user\n"
         "  user:\n"
         "    client-certificate: certs/client.pem\n"
         "    client-key: /nonexistent-dir/never/key.pem\n"
         "    tokenFile: ../tokens/token\n";
}

// A single-context kubeconfig whose cluster and user bodies are given.
std::string config_with(const std::string& cluster_body, const std::string& user_body) {
  return "current-context: c\n"
         "clusters:\n"
         "- name: k\n"
         "  cluster:\n" +
         cluster_body +
         "contexts:\n"
         "- name: c\n"
         "  context: {cluster: k, user: u}\n"
         "users:\n"
         "- name: u\n"
         "  user:\n" +
         user_body;
}

const std::string kGoodCluster = "    server: https://10.0.0.1:6443\n";
const std::string kGoodUser = std::string("    token: ") + kToken + "\n";

// Loads `text` as <dir>/config and returns the error message (the load must fail).
std::string load_error(const TempDir& dir, const std::string& text,
                       const std::string& context = "") {
  const std::string path = dir.write("config", text);
  auto config = load_kubeconfig(path, context);
  REQUIRE_FALSE(config.is_ok());
  const std::string& message = config.status().message();
  CHECK(message.rfind("kubeconfig " + path + ": ", 0) == 0);
  CHECK(message.find("s3cr3t") == std::string::npos);
  return message;
}

}  // namespace

TEST_CASE("kubeconfig data fields are decoded and current-context is used", "[kubeconfig]") {
  TempDir dir;
  const std::string path = dir.write("config", two_context_config());
  auto config = load_kubeconfig(path);
  REQUIRE(config.is_ok());
  CHECK(config->server == "https://127.0.0.1:6443");
  CHECK(config->ca_pem == kCaPem);
  CHECK(config->token == kToken);
  CHECK(config->token_file.empty());
  CHECK(config->client_cert_pem == kCertPem);
  CHECK(config->client_key_pem == kKeyPem);
  CHECK(config->tls_server_name.empty());
  CHECK(config->namespace_ == "shop");
  CHECK(config->source == "kubeconfig " + path + " (context dev)");
}

TEST_CASE("kubeconfig file fields resolve relative to the kubeconfig folder", "[kubeconfig]") {
  TempDir dir;
  dir.write("kube/certs/ca.pem", kCaPem);
  dir.write("kube/certs/client.pem", kCertPem);
  const std::string key_path = dir.write("keys/key.pem", kKeyPem);
  const std::string token_path = dir.write("tokens/token", std::string(kToken) + "\n");
  std::string text = two_context_config();
  const std::string absent_key = "/nonexistent-dir/never/key.pem";
  text.replace(text.find(absent_key), absent_key.size(), key_path);
  const std::string path = dir.write("kube/config", text);

  auto config = load_kubeconfig(path, "prod");
  REQUIRE(config.is_ok());
  CHECK(config->server == "https://prod.example:443/k8s/clusters/c-1");
  CHECK(config->ca_pem == kCaPem);
  CHECK(config->client_cert_pem == kCertPem);
  CHECK(config->client_key_pem == kKeyPem);
  CHECK(config->tls_server_name == "kubernetes.default");
  CHECK(config->token.empty());
  CHECK(config->token_file == token_path);  // ../tokens/token from kube/, normalised
  CHECK(config->namespace_ == "default");
  CHECK(config->source == "kubeconfig " + path + " (context prod)");
}

TEST_CASE("kubeconfig relative paths work when the kubeconfig path is relative", "[kubeconfig]") {
  TempDir dir;
  dir.write("certs/ca.pem", kCaPem);
  const std::string path = dir.write(
      "config", config_with(kGoodCluster + "    certificate-authority: certs/ca.pem\n", kGoodUser));
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path);
  auto config = load_kubeconfig("config");
  std::filesystem::current_path(cwd);
  REQUIRE(config.is_ok());
  CHECK(config->ca_pem == kCaPem);
}

TEST_CASE("kubeconfig unreadable files are named with their field", "[kubeconfig]") {
  TempDir dir;
  dir.write("kube/certs/ca.pem", kCaPem);
  dir.write("kube/certs/client.pem", kCertPem);
  dir.write("tokens/token", kToken);
  const std::string path = dir.write("kube/config", two_context_config());
  auto config = load_kubeconfig(path, "prod");
  REQUIRE_FALSE(config.is_ok());
  CHECK(config.status().code() == StatusCode::kNotFound);
  CHECK(config.status().message() ==
        "kubeconfig " + path +
            ": users[1].user.client-key: cannot read /nonexistent-dir/never/key.pem: No such file "
            "or directory");
}

TEST_CASE("kubeconfig explicit context wins and missing names are errors", "[kubeconfig]") {
  TempDir dir;
  SECTION("unknown context, listing the known ones") {
    CHECK(load_error(dir, two_context_config(), "staging") ==
          "kubeconfig " + dir.path +
              "/config: context \"staging\" not found (contexts: dev, prod)");
  }
  SECTION("current-context names a missing context") {
    std::string text = two_context_config();
    text.replace(text.find("current-context: dev"), 20, "current-context: gone");
    CHECK(load_error(dir, text).find("current-context: context \"gone\" not found") !=
          std::string::npos);
  }
  SECTION("no current-context and no context given") {
    std::string text = two_context_config();
    text.replace(text.find("current-context: dev"), 20, "current-context: \"\"");
    CHECK(load_error(dir, text).find("current-context: not set") != std::string::npos);
  }
  SECTION("missing cluster") {
    std::string text = two_context_config();
    text.replace(text.find("cluster: dev-cluster"), 20, "cluster: nope");
    CHECK(load_error(dir, text).find(
              "contexts[0].context.cluster: cluster \"nope\" not found (clusters: dev-cluster, "
              "prod-cluster)") != std::string::npos);
  }
  SECTION("missing user") {
    std::string text = two_context_config();
    text.replace(text.find("user: dev-user"), 14, "user: ghost");
    CHECK(load_error(dir, text).find("contexts[0].context.user: user \"ghost\" not found") !=
          std::string::npos);
  }
  SECTION("missing file") {
    auto config = load_kubeconfig(dir.path + "/absent");
    REQUIRE_FALSE(config.is_ok());
    CHECK(config.status().code() == StatusCode::kNotFound);
    CHECK(config.status().message() == "kubeconfig " + dir.path + "/absent: cannot read " +
                                           dir.path + "/absent: No such file or directory");
  }
}

TEST_CASE("kubeconfig insecure-skip-tls-verify true is refused", "[kubeconfig]") {
  TempDir dir;
  const std::string message = load_error(
      dir, config_with(kGoodCluster + "    insecure-skip-tls-verify: true\n", kGoodUser));
  CHECK(message.find("clusters[0].cluster.insecure-skip-tls-verify: true is refused") !=
        std::string::npos);
  // false is the default and harmless.
  const std::string path = dir.write(
      "ok", config_with(kGoodCluster + "    insecure-skip-tls-verify: false\n", kGoodUser));
  CHECK(load_kubeconfig(path).is_ok());
}

TEST_CASE("kubeconfig refuses what Sluice cannot use safely", "[kubeconfig]") {
  TempDir dir;
  SECTION("http server") {
    CHECK(load_error(dir, config_with("    server: http://127.0.0.1:8080\n", kGoodUser))
              .find("clusters[0].cluster.server: http://127.0.0.1:8080 is refused") !=
          std::string::npos);
  }
  SECTION("no server") {
    CHECK(load_error(dir, config_with("    tls-server-name: x\n", kGoodUser))
              .find("clusters[0].cluster.server: missing") != std::string::npos);
  }
  SECTION("file and data twins") {
    CHECK(load_error(dir, config_with(kGoodCluster + "    certificate-authority: ca.pem\n" +
                                          "    certificate-authority-data: " + base64(kCaPem) +
                                          "\n",
                                      kGoodUser))
              .find("clusters[0].cluster: certificate-authority and certificate-authority-data "
                    "are both set") != std::string::npos);
  }
  SECTION("bad base64 is reported without its contents") {
    CHECK(load_error(dir, config_with(kGoodCluster, kGoodUser + "    client-key-data: s3cr3t!!\n" +
                                                        "    client-certificate-data: " +
                                                        base64(kCertPem) + "\n"))
              .find("users[0].user.client-key-data: not valid base64") != std::string::npos);
  }
  SECTION("certificate without key") {
    CHECK(load_error(dir, config_with(kGoodCluster,
                                      "    client-certificate-data: " + base64(kCertPem) + "\n"))
              .find("users[0].user: client-certificate is set without client-key") !=
          std::string::npos);
  }
  SECTION("exec plugin") {
    CHECK(load_error(dir, config_with(kGoodCluster, "    exec: {command: aws}\n"))
              .find("users[0].user.exec: credential plugins are not supported") !=
          std::string::npos);
  }
  SECTION("basic auth") {
    CHECK(load_error(dir, config_with(kGoodCluster, "    username: admin\n    password: s3cr3t\n"))
              .find("users[0].user.username: basic authentication is not supported") !=
          std::string::npos);
  }
  SECTION("proxy") {
    CHECK(load_error(dir, config_with(kGoodCluster + "    proxy-url: http://proxy:3128\n",
                                      kGoodUser))
              .find("clusters[0].cluster.proxy-url: proxies are not supported") !=
          std::string::npos);
  }
  SECTION("a token with a line break, not quoted") {
    CHECK(load_error(dir, config_with(kGoodCluster, "    token: \"s3cr3t\\r\\nX-Evil: 1\"\n"))
              .find("users[0].user.token: contains whitespace or control characters") !=
          std::string::npos);
  }
  SECTION("missing token file") {
    CHECK(load_error(dir, config_with(kGoodCluster, "    tokenFile: absent-token\n"))
              .find("users[0].user.tokenFile: cannot read " + dir.path +
                    "/absent-token: No such file or directory") != std::string::npos);
  }
  SECTION("yaml syntax error with its position") {
    CHECK(load_error(dir, "clusters: [\n  {name: a\n").find("line ") != std::string::npos);
  }
  SECTION("not a mapping") {
    CHECK(load_error(dir, "- a\n- b\n").find("not a kubeconfig") != std::string::npos);
  }
  SECTION("clusters is not a list") {
    CHECK(load_error(dir, "current-context: c\nclusters: 3\ncontexts:\n- name: c\n"
                          "  context: {cluster: k}\n")
              .find("clusters: must be a list") != std::string::npos);
  }
}

TEST_CASE("kubeconfig token file is kept as a path for the client to re-read", "[kubeconfig]") {
  TempDir dir;
  const std::string token_path = dir.write("sa/token", std::string(kToken) + "\n");
  const std::string path =
      dir.write("config", config_with(kGoodCluster, "    tokenFile: sa/token\n"));
  auto config = load_kubeconfig(path);
  REQUIRE(config.is_ok());
  CHECK(config->token_file == token_path);
  CHECK(config->token.empty());
}

TEST_CASE("in-cluster config reads the service account folder", "[kubeconfig]") {
  TempDir dir;
  const std::string token_path = dir.write("token", std::string(kToken) + "\n");
  dir.write("ca.crt", kCaPem);
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  ScopedEnv pod_ns("POD_NAMESPACE", std::nullopt);

  SECTION("with a namespace file") {
    dir.write("namespace", "shop\n");
    auto config = load_in_cluster(dir.path);
    REQUIRE(config.is_ok());
    CHECK(config->server == "https://10.96.0.1:443");
    CHECK(config->token == kToken);
    CHECK(config->token_file == token_path);
    CHECK(config->ca_pem == kCaPem);
    CHECK(config->namespace_ == "shop");
    CHECK(config->source == "in-cluster service account");
  }
  SECTION("without one, default, unless POD_NAMESPACE says otherwise") {
    auto config = load_in_cluster(dir.path);
    REQUIRE(config.is_ok());
    CHECK(config->namespace_ == "default");
    ScopedEnv downward("POD_NAMESPACE", "payments");
    CHECK(load_in_cluster(dir.path)->namespace_ == "payments");
  }
  SECTION("an IPv6 service host is bracketed") {
    ScopedEnv v6("KUBERNETES_SERVICE_HOST", "fd00::1");
    auto config = load_in_cluster(dir.path);
    REQUIRE(config.is_ok());
    CHECK(config->server == "https://[fd00::1]:443");
  }
  SECTION("a missing CA is an error") {
    std::filesystem::remove(dir.path + "/ca.crt");
    auto config = load_in_cluster(dir.path);
    REQUIRE_FALSE(config.is_ok());
    CHECK(config.status().message() == "in-cluster config: cannot read " + dir.path +
                                           "/ca.crt: No such file or directory");
  }
  SECTION("a missing token is an error") {
    std::filesystem::remove(token_path);
    auto config = load_in_cluster(dir.path);
    REQUIRE_FALSE(config.is_ok());
    CHECK(config.status().code() == StatusCode::kNotFound);
    CHECK(config.status().message().find(token_path) != std::string::npos);
  }
  SECTION("without the service variables") {
    ScopedEnv unset("KUBERNETES_SERVICE_HOST", std::nullopt);
    auto config = load_in_cluster(dir.path);
    REQUIRE_FALSE(config.is_ok());
    CHECK(config.status().message().find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  }
}

TEST_CASE("resolve_config follows the kubectl order", "[kubeconfig]") {
  TempDir dir;
  const std::string explicit_path =
      dir.write("explicit", config_with("    server: https://10.0.0.1:1\n", kGoodUser));
  const std::string env_path =
      dir.write("from-env", config_with("    server: https://10.0.0.2:2\n", kGoodUser));
  const std::string home_path =
      dir.write("home/.kube/config", config_with("    server: https://10.0.0.4:4\n", kGoodUser));
  const std::string sa_dir = dir.path + "/sa";
  dir.write("sa/token", kToken);
  dir.write("sa/ca.crt", kCaPem);
  ScopedEnv home("HOME", dir.path + "/home");
  ScopedEnv kubeconfig("KUBECONFIG", ":" + env_path + ":" + explicit_path);
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.3");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "3");

  CHECK(resolve_config(explicit_path, "", sa_dir)->server == "https://10.0.0.1:1");
  // The first non-empty entry of $KUBECONFIG.
  CHECK(resolve_config("", "", sa_dir)->server == "https://10.0.0.2:2");
  {
    ScopedEnv no_kubeconfig("KUBECONFIG", std::nullopt);
    auto in_cluster = resolve_config("", "", sa_dir);
    REQUIRE(in_cluster.is_ok());
    CHECK(in_cluster->server == "https://10.0.0.3:3");
    CHECK(in_cluster->source == "in-cluster service account");
    // A context names a kubeconfig context: in-cluster is skipped.
    auto with_context = resolve_config("", "c", sa_dir);
    REQUIRE(with_context.is_ok());
    CHECK(with_context->server == "https://10.0.0.4:4");
    // KUBERNETES_SERVICE_HOST without a token (a shell in a Pod without one): ~/.kube/config.
    CHECK(resolve_config("", "", dir.path + "/no-sa")->server == "https://10.0.0.4:4");
    {
      ScopedEnv not_in_cluster("KUBERNETES_SERVICE_HOST", std::nullopt);
      CHECK(resolve_config("", "", sa_dir)->server == "https://10.0.0.4:4");
      std::filesystem::remove(home_path);
      auto nothing = resolve_config("", "", sa_dir);
      REQUIRE_FALSE(nothing.is_ok());
      CHECK(nothing.status().code() == StatusCode::kNotFound);
      CHECK(nothing.status().message() ==
            "no Kubernetes credentials found: tried --kubeconfig (not given), $KUBECONFIG (not "
            "set), in-cluster (KUBERNETES_SERVICE_HOST not set), " +
                home_path + " (does not exist)");
    }
  }
  // An error in the chosen file is returned, not skipped.
  ScopedEnv broken("KUBECONFIG", dir.path + "/absent");
  auto failed = resolve_config("", "", sa_dir);
  REQUIRE_FALSE(failed.is_ok());
  CHECK(failed.status().message().find("(from $KUBECONFIG)") != std::string::npos);
}
