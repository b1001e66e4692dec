// Test PKI made with the OpenSSL C API, and a small blocking HTTPS server on 127.0.0.1:<port 0>
// whose answers are scripted per test, for RestClient's integration tests.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sluice::kube::testing {

// Made once per process: two unrelated CAs, a server certificate from `ca` for IP 127.0.0.1 and
// DNS localhost, and a client certificate from `ca` with CN sluice-test-client.
struct TestPki {
  std::string ca_pem;
  std::string other_ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};
const TestPki& test_pki();

// What the server saw of one request.
struct SeenRequest {
  std::string method;
  std::string target;
  std::string host;
  std::string authorization;
  std::string user_agent;
  std::string content_type;
  std::string body;
  std::string sni;        // the server name the client sent, "" for none
  std::string client_cn;  // the client certificate's CN, "" for none
};

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// Writes a whole answer with a Content-Length.
void respond(TlsStream& stream, int status, const std::string& body,
             const std::string& content_type = "application/json");
// Writes bytes as they are (a hand-made header, chunks).
void write_raw(TlsStream& stream, const std::string& bytes);
// One HTTP/1.1 chunk holding `data`.
std::string chunk(const std::string& data);
// Blocks until the client closes the connection or the server stops.
void hold(TlsStream& stream);

class TlsTestServer {
 public:
  // Runs on the connection's own thread, after the request has been read; writes the answer.
  using Handler = std::function<void(const SeenRequest&, TlsStream&)>;

  // With `client_ca_pem`, a client certificate signed by it is required.
  explicit TlsTestServer(Handler handler, const std::string& client_ca_pem = "");
  // Stops accepting, cuts open connections, joins every thread.
  ~TlsTestServer();

  unsigned short port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> seen();
  // Handshakes that failed on the server side.
  int failed_handshakes() const { return failed_handshakes_.load(); }

 private:
  void accept_loop();
  void serve(boost::asio::ip::tcp::socket socket);

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> failed_handshakes_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // guarded by mu_
  std::set<int> open_fds_;                // guarded by mu_
  std::vector<SeenRequest> seen_;         // guarded by mu_
};

}  // namespace sluice::kube::testing
