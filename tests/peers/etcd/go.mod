// Wrapper module that builds etcd for Sluice's tests (scripts/peers). go.etcd.io/etcd/server/v3
// (the module root is the main package) has replace lines, so go install refuses it; requiring
// it from here builds exactly the pinned release. Version: ../versions.env. Never 'go get -u'.
module sluice.dev/peers/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.6.17
