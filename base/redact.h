// Credentials out of everything Sluice shows: the one helper for URLs that are logged, put in an
// event or an error, or shown by the API (GET /api/v1/source).
//
// A URL's userinfo ("user:password@" or "token@") is removed whole: https://u:p@host/r becomes
// https://host/r. Passwords are often pasted unencoded, so the userinfo ends at the last '@'
// before the first '/' of the authority, or, when the text before that '/' is no valid
// host[:port] (a password holding a '/'), at the last '@' of the URL. A path that holds an '@'
// after a valid host is left alone. Text without "://" (local paths, scp-like git@host:repo,
// whose user is no secret) is returned as is. A bare token holding a '/' cannot be told apart
// from a path and is not found: put secrets in files (repo password files, tokenFile).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

std::string redact_url(std::string_view url);

// Every "scheme://..." inside free text (a URL runs to the next whitespace, quote or angle
// bracket) with its credentials removed, e.g. messages of libgit2 or an HTTP client.
std::string redact_urls_in(std::string_view text);

}  // namespace sluice
