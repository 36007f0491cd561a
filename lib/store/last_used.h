// lib/store/last_used.h: test access to a store's last-used flush.
//
// Not part of the public API: the store flushes on its own (every
// Options::last_used_flush_interval, and at Close); tests flush at a moment
// of their choosing and count what flushes wrote.
#ifndef KEYGATE_LIB_STORE_LAST_USED_H_
#define KEYGATE_LIB_STORE_LAST_USED_H_

#include <cstdint>

#include "absl/status/status.h"
#include "keygate/store.h"

namespace keygate::store::internal {

// FlushLastUsed writes `store`'s pending last-used times now, as the
// background flush does. `store` must come from Store::Open. OK with
// nothing to write; FailedPrecondition once closed; storage errors as is.
absl::Status FlushLastUsed(Store& store);

// LastUsedRecordsWritten counts the last-used records `store`'s flushes
// have written since it opened.
uint64_t LastUsedRecordsWritten(const Store& store);

}  // namespace keygate::store::internal

#endif  // KEYGATE_LIB_STORE_LAST_USED_H_
