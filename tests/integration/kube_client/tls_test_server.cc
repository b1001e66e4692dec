#include "tls_test_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace sluice::kube::testing {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

// P-256 keys: as good as RSA for these tests and much faster to make under the sanitizers.
Key make_key() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EVP_PKEY_Q_keygen");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx{};
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by issuer/issuer_key (self-signed when null).
Cert make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
               bool is_ca, const std::string& subject_alt_names) {
  static long serial = 1;
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer name");
  add_extension(cert.get(), signer, NID_basic_constraints,
                is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage,
                is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (!subject_alt_names.empty()) {
    add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_names);
  }
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
        "X509_sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  std::string out(BIO_ctrl_pending(bio), '\0');
  check(BIO_read(bio, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()),
        "BIO_read");
  return out;
}

std::string cert_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

TestPki make_pki() {
  TestPki pki;
  Key ca_key = make_key();
  Cert ca = make_cert(ca_key.get(), "sluice test CA", nullptr, nullptr, true, "");
  Key other_key = make_key();
  Cert other = make_cert(other_key.get(), "sluice other CA", nullptr, nullptr, true, "");
  Key server_key = make_key();
  Cert server = make_cert(server_key.get(), "kube-apiserver", ca.get(), ca_key.get(), false,
                          "IP:127.0.0.1,DNS:localhost");
  Key client_key = make_key();
  Cert client =
      make_cert(client_key.get(), "sluice-test-client", ca.get(), ca_key.get(), false, "");
  pki.ca_pem = cert_pem(ca.get());
  pki.other_ca_pem = cert_pem(other.get());
  pki.server_cert_pem = cert_pem(server.get());
  pki.server_key_pem = key_pem(server_key.get());
  pki.client_cert_pem = cert_pem(client.get());
  pki.client_key_pem = key_pem(client_key.get());
  return pki;
}

}  // namespace

const TestPki& test_pki() {
  static const TestPki pki = make_pki();
  return pki;
}

void respond(TlsStream& stream, int status, const std::string& body,
             const std::string& content_type) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, content_type);
  res.keep_alive(false);
  res.body() = body;
  res.prepare_payload();
  boost::system::error_code ignored;
  http::write(stream, res, ignored);
}

void write_raw(TlsStream& stream, const std::string& bytes) {
  boost::system::error_code ignored;
  asio::write(stream, asio::buffer(bytes), ignored);
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

void hold(TlsStream& stream) {
  char byte;
  boost::system::error_code ec;
  while (!ec) stream.read_some(asio::buffer(&byte, 1), ec);
}

TlsTestServer::TlsTestServer(Handler handler, const std::string& client_ca_pem)
    : handler_(std::move(handler)),
      tls_(ssl::context::tls_server),
      acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  const TestPki& pki = test_pki();
  tls_.use_certificate_chain(asio::buffer(pki.server_cert_pem));
  tls_.use_private_key(asio::buffer(pki.server_key_pem), ssl::context::pem);
  if (!client_ca_pem.empty()) {
    tls_.add_certificate_authority(asio::buffer(client_ca_pem));
    tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

TlsTestServer::~TlsTestServer() {
  stopping_ = true;
  {
    // Wake the blocking accept() with a connection of our own.
    asio::io_context wake_ioc;
    tcp::socket wake(wake_ioc);
    boost::system::error_code ignored;
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    accept_thread_.join();
  }
  std::vector<std::thread> connections;
  {
    std::lock_guard lock(mu_);
    // Blocked reads and writes return once their socket is shut down.
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& t : connections) t.join();
}

std::vector<SeenRequest> TlsTestServer::seen() {
  std::lock_guard lock(mu_);
  return seen_;
}

void TlsTestServer::accept_loop() {
  for (;;) {
    tcp::socket socket(ioc_);
    boost::system::error_code ec;
    acceptor_.accept(socket, ec);
    if (stopping_) return;
    if (ec) continue;
    std::lock_guard lock(mu_);
    open_fds_.insert(socket.native_handle());
    connections_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
  }
}

void TlsTestServer::serve(tcp::socket socket) {
  const int fd = socket.native_handle();
  {
    TlsStream stream(std::move(socket), tls_);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      ++failed_handshakes_;
    } else {
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(stream, buffer, req, ec);
      if (!ec) {
        SeenRequest seen;
        seen.method = std::string(req.method_string());
        seen.target = std::string(req.target());
        seen.host = std::string(req[http::field::host]);
        seen.authorization = std::string(req[http::field::authorization]);
        seen.user_agent = std::string(req[http::field::user_agent]);
        seen.content_type = std::string(req[http::field::content_type]);
        seen.body = req.body();
        if (const char* sni = SSL_get_servername(stream.native_handle(),
                                                 TLSEXT_NAMETYPE_host_name)) {
          seen.sni = sni;
        }
        if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
          char cn[256] = {};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
          seen.client_cn = cn;
          X509_free(peer);
        }
        {
          std::lock_guard lock(mu_);
          seen_.push_back(seen);
        }
        handler_(seen, stream);
      }
    }
    // Forget the descriptor before the stream closes it, so that it is never shut down after
    // the number has been reused.
    std::lock_guard lock(mu_);
    open_fds_.erase(fd);
  }
}

}  // namespace sluice::kube::testing
