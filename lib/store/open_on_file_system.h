// lib/store/open_on_file_system.h: opening a store on a chosen RocksDB
// FileSystem, for crash, power-loss and I/O-fault tests.
//
// Not part of the public API: a host has no reason to swap the file system
// under its store, and Options stays free of RocksDB types. Tests compose a
// fault-injection FileSystem (tests/crash/fault_injection_file_system.h)
// under the store's owner-only PrivateFileSystem through this one entry.
#ifndef KEYGATE_LIB_STORE_OPEN_ON_FILE_SYSTEM_H_
#define KEYGATE_LIB_STORE_OPEN_ON_FILE_SYSTEM_H_

#include <memory>

#include "absl/status/statusor.h"
#include "keygate/options.h"
#include "keygate/store.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace keygate::store::internal {

// OpenStoreOnFileSystem is Store::Open with `base_file_system` (not null)
// under the store's PrivateFileSystem instead of the default POSIX one. Same
// results and errors as Store::Open; the FileSystem must outlive the store.
absl::StatusOr<std::unique_ptr<Store>> OpenStoreOnFileSystem(
    Options options, std::shared_ptr<rocksdb::FileSystem> base_file_system);

}  // namespace keygate::store::internal

#endif  // KEYGATE_LIB_STORE_OPEN_ON_FILE_SYSTEM_H_
