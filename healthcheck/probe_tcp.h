// One asynchronous TCP connect to a loopback port (tcpSocket probes). The callback runs on
// `executor` exactly once; success means the connection was accepted within `timeout`.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "base/clock.h"
#include "healthcheck/probe_target.h"

namespace sluice::healthcheck {

void async_tcp_check(const boost::asio::any_io_executor& executor, std::string host, int port,
                     Duration timeout, std::function<void(ProbeOutcome)> done);

}  // namespace sluice::healthcheck
