// lib/storage/change_record.h: the change log's record, what one committed
// write batch changed, and its key (docs/storage-schema.md, "Change log").
//
// Every write batch of a primary store (create, update and delete of a
// service account; create, revoke and rotation of a token; each purge
// chunk) appends
// one change record in the same batch, under a position that writers take
// in commit order. A follower applies the records after its own position to
// its in-memory state (lib/store/follower.cc). The record names WHAT changed
// and never carries state a reader could take as authoritative: the reader
// re-reads the named rows as of its catch-up, except for deleted tokens,
// whose rows are gone and which the record therefore names by keyed digest.
// A record never holds a token value. Backend-neutral: the PostgreSQL change
// log (issue 10) can store the same encoded bytes.
#ifndef KEYGATE_LIB_STORAGE_CHANGE_RECORD_H_
#define KEYGATE_LIB_STORAGE_CHANGE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "lib/base/digest.h"

namespace keygate::storage {

// ChangeKind says what a change record's batch did. Values are stored:
// append new kinds, never renumber.
enum class ChangeKind : uint8_t {
  kAccountCreated = 1,  // organization, service_account
  kAccountUpdated = 2,  // organization, service_account (rename, disable...)
  kAccountDeleted = 3,  // organization, service_account, deleted_digests
  kTokenCreated = 4,    // organization, service_account, token_slug
  kTokenRevoked = 5,    // organization, service_account, token_slug
  kTokensPurged = 6,    // deleted_digests
  kTokenRotated = 7,    // organization, service_account, token_slug (the
                        // old token; its record names the successor)
};

// ChangeRecord is one change log entry.
struct ChangeRecord {
  ChangeKind kind = ChangeKind::kAccountUpdated;
  // When the primary committed it (stored precision); trimming reads it.
  absl::Time written_at = absl::UnixEpoch();
  std::string organization;
  std::string service_account;
  std::string token_slug;
  // Keyed digests of the tokens the batch deleted (account delete, purge).
  std::vector<Digest> deleted_digests;
};

// The key range of the change log in the default (meta) family:
// "changes/" + be64(position). Positions start at 1; byte order is position
// order.
inline constexpr std::string_view kChangePrefix = "changes/";
std::string ChangeKey(uint64_t position);
// DecodeChangeKey reads a key of the range; false if malformed.
bool DecodeChangeKey(std::string_view key, uint64_t* position);

// EncodeChange / DecodeChange: version byte, kind byte, written_at (8),
// lp(organization), lp(service_account), lp(token_slug), varint32 count,
// count x 32 digest bytes. DecodeChange returns DataLoss for anything else
// (an unknown version or kind included).
std::string EncodeChange(const ChangeRecord& change);
absl::Status DecodeChange(std::string_view value, ChangeRecord* change);

}  // namespace keygate::storage

#endif  // KEYGATE_LIB_STORAGE_CHANGE_RECORD_H_
