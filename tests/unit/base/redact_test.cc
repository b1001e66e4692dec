#include <catch2/catch.hpp>

#include "base/redact.h"

using sluice::redact_url;
using sluice::redact_urls_in;

TEST_CASE("redact_url removes userinfo and keeps everything else", "[base][redact][security]") {
  CHECK(redact_url("https://user:s3cret@host/x.git") == "https://host/x.git");
  CHECK(redact_url("https://ghp_TOKEN123@github.com/o/r.git") == "https://github.com/o/r.git");
  CHECK(redact_url("ssh://git@host:2222/r.git") == "ssh://host:2222/r.git");
  CHECK(redact_url("http://u:p@127.0.0.1:9090") == "http://127.0.0.1:9090");
  CHECK(redact_url("http://u:p@[::1]:9090/q?x=1") == "http://[::1]:9090/q?x=1");
  // Passwords with the characters that end an authority: the last '@' before the host wins.
  CHECK(redact_url("https://u:p@ss@host/r") == "https://host/r");
  CHECK(redact_url("https://u:pa/ss@host/r") == "https://host/r");
  CHECK(redact_url("https://u:pa?ss@host/r") == "https://host/r");
  CHECK(redact_url("https://u:pa#ss@host/r") == "https://host/r");
  CHECK(redact_url("https://u:p@host") == "https://host");
  // Nothing to hide.
  CHECK(redact_url("/local/path") == "/local/path");
  CHECK(redact_url("file:///srv/repo") == "file:///srv/repo");
  CHECK(redact_url("https://host/org/pkg@v1") == "https://host/org/pkg@v1");
  CHECK(redact_url("git@github.com:o/r.git") == "git@github.com:o/r.git");  // a user, no secret
  CHECK(redact_url("") == "");
}

TEST_CASE("redact_urls_in cleans every URL inside a message", "[base][redact][security]") {
  CHECK(redact_urls_in("fetch https://u:pw@h/r: failed; retry http://a:b@c:1/x") ==
        "fetch https://h/r: failed; retry http://c:1/x");
  CHECK(redact_urls_in("'https://u:pw@h/r'") == "'https://h/r'");
  CHECK(redact_urls_in("no url here: a:b@c") == "no url here: a:b@c");
}
