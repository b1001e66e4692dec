// HAProxy's runtime API (the `stats socket ... level admin` unix socket): one command per
// connection, answer read until HAProxy closes. Plus pure parsers for the answers the router
// reads. Blocking, bounded by `timeout` on connect/send/receive; call from the controller thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::traffic {

// Sends `command` and returns HAProxy's raw answer. Errors name the socket path and the command.
Result<std::string> haproxy_command(const std::string& socket_path, const std::string& command,
                                    Duration timeout);

// One row of `show servers state <backend>`.
struct HaproxyServerState {
  std::string name;
  std::string addr;
  int port = 0;
  int op_state = 0;     // 0 stopped, 1 starting, 2 running, 3 stopping
  int admin_state = 0;  // bit flags: 0x01 forced maint, 0x04 config maint, 0x08 forced drain
  int weight = 0;       // srv_uweight
  bool in_maintenance() const { return (admin_state & 0x67) != 0; }
  bool draining() const { return (admin_state & 0x18) != 0; }
};

// Parses the answer of `show servers state <backend>`; an error answer ("Can't find
// backend.") is an error naming it.
Result<std::vector<HaproxyServerState>> parse_servers_state(std::string_view answer);

// The map files HAProxy loaded, from the answer of `show map` (rows "<id> (<file>) ...").
Result<std::vector<std::string>> parse_map_list(std::string_view answer);

// The entries of one map, from the answer of `show map <file>` (rows "<addr> <key> <value>"; the
// value is taken to have no spaces, as the backend names Sluice writes there).
Result<std::vector<std::pair<std::string, std::string>>> parse_map_entries(std::string_view answer);

// Escapes one argument of a runtime API command: the CLI splits on spaces and ';' and takes
// backslash as an escape, so those are preceded by a backslash.
std::string haproxy_cli_escape(std::string_view argument);

// `show stat` CSV as rows of column -> value (header from the "# pxname,..." line).
Result<std::vector<std::map<std::string, std::string>>> parse_show_stat(std::string_view answer);

}  // namespace sluice::traffic
