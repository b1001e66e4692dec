// Where the real test peers live: the cache that `make peers` (scripts/peers) fills.
//
//   ${SLUICE_PEERS_DIR:-$HOME/.cache/sluice/peers}/bin/{etcd,kube-apiserver,...}
//   .../gateway-api/crds/*.yaml      .../kafka/libs/*.jar
//
// A fixture that needs a peer asks here first. A missing peer is an error (never a skip) whose
// message is one line naming what is missing and the command that builds it.
#pragma once

#include <string>

#include "base/status.h"

namespace sluice::testing {

// The cache root (not checked for existence).
std::string peers_dir();

// `relative` under the cache (e.g. "bin/etcd", "kafka/libs"), or FailedPrecondition:
// "peer bin/etcd is missing from /root/.cache/sluice/peers: run `make peers` (see its log in
// /root/.cache/sluice/peers/logs)".
Result<std::string> peer_path(const std::string& relative);

}  // namespace sluice::testing
