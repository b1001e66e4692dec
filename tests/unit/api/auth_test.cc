// Token strength and auth files that are wrong (issue 19, "Security").
#include <catch2/catch.hpp>

#include <string>

#include "api/auth.h"

using namespace sluice::api;

TEST_CASE("tokens shorter than 16 characters are refused with the rule", "[api][auth][security]") {
  Authenticator auth;
  for (const std::string token : {"x", "abc", "fifteen-chars-x"}) {
    INFO(token);
    auto st = auth.add_token(token, Role::kAdmin, "ops");
    REQUIRE_FALSE(st.is_ok());
    CHECK_THAT(st.message(), Catch::Contains("at least 16 characters"));
    if (token.size() > 3) CHECK_THAT(st.message(), !Catch::Contains(token));
  }
  CHECK_FALSE(auth.enabled());
  CHECK(auth.add_token("sixteen-chars-xx", Role::kAdmin, "ops").is_ok());
  CHECK(auth.enabled());

  auto in_file = Authenticator().add_auth_file_content("# ops\nx admin\n", "auth.txt");
  REQUIRE_FALSE(in_file.is_ok());
  CHECK_THAT(in_file.message(), Catch::StartsWith("auth.txt:2: "));
  CHECK_THAT(in_file.message(), Catch::Contains("at least 16 characters"));
}

TEST_CASE("an auth file without tokens is an error, not an open server", "[api][auth][security]") {
  for (const std::string content : {"", "\n\n", "# nobody yet\n  # still nobody\n"}) {
    INFO(content);
    Authenticator auth;
    auto st = auth.add_auth_file_content(content, "/etc/sluice/tokens");
    REQUIRE_FALSE(st.is_ok());
    CHECK_THAT(st.message(), Catch::Contains("/etc/sluice/tokens"));
    CHECK_THAT(st.message(), Catch::Contains("no tokens"));
    CHECK_FALSE(auth.enabled());
  }
}

TEST_CASE("auth file errors name the file and line, never the token", "[api][auth][security]") {
  const std::string token = "mytoken1234567890abcdefXYZ";
  struct Case {
    std::string content;
    std::string where;
  };
  const std::vector<Case> cases = {
      {"deployer " + token + "\n", "auth.txt:1: "},            // columns swapped
      {"# ci\ndeployer " + token + " ci\n", "auth.txt:2: "},   // swapped, with a name
      {token + " superuser\n", "auth.txt:1: "},                // unknown role
      {token + "\n", "auth.txt:1: "},                          // no role
      {token + " deployer ci extra\n", "auth.txt:1: "},        // too many fields
      {token + "\x01x deployer\n", "auth.txt:1: "},             // control character
  };
  for (const auto& c : cases) {
    INFO(c.where);
    Authenticator auth;
    auto st = auth.add_auth_file_content(c.content, "auth.txt");
    REQUIRE_FALSE(st.is_ok());
    CHECK_THAT(st.message(), Catch::StartsWith(c.where));
    CHECK_THAT(st.message(), !Catch::Contains(token));
    CHECK_THAT(st.message(), !Catch::Contains(token.substr(0, 8)));
  }
  auto swapped = Authenticator().add_auth_file_content("deployer " + token + "\n", "auth.txt");
  CHECK_THAT(swapped.message(), Catch::Contains("TOKEN ROLE [NAME]"));
}
