// fuzz/storage_records_fuzzer.cc: the storage decoders (lib/storage/records,
// keys, coding) fed bytes as if read back from a damaged or hostile database.
//
// Invariants checked on every input:
//   - no decoder crashes or reads out of bounds (ASan), whatever the bytes;
//   - a failed record decode is DataLoss (corruption is reported, never
//     misread as another error);
//   - an accepted record re-encodes to bytes that decode to the same value
//     (decode . encode . decode == decode);
//   - an accepted key re-encodes to a key that decodes to the same parts;
//   - Decoder primitives never grow `remaining()` and fail cleanly at the end;
//   - EncodeTime(DecodeTime(x)) == x for every 64-bit x.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "lib/storage/coding.h"
#include "lib/storage/keys.h"
#include "lib/storage/records.h"

namespace {

using keygate::ServiceAccount;
using keygate::TokenMetadata;
using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;
namespace storage = keygate::storage;

// Input sizes beyond this say nothing new about a record decoder.
constexpr size_t kMaxInputSize = 4096;

bool SameAccount(const ServiceAccount& a, const ServiceAccount& b) {
  return a.name == b.name && a.disabled == b.disabled &&
         a.created_at == b.created_at && a.created_by == b.created_by &&
         a.updated_at == b.updated_at && a.updated_by == b.updated_by;
}

bool SameToken(const storage::StoredToken& a, const storage::StoredToken& b) {
  const TokenMetadata& x = a.metadata;
  const TokenMetadata& y = b.metadata;
  return a.digest == b.digest && x.name == y.name && x.scopes == y.scopes &&
         x.created_at == y.created_at && x.created_by == y.created_by &&
         x.expires_at == y.expires_at && x.revoked_at == y.revoked_at &&
         x.revoked_by == y.revoked_by && x.pepper_id == y.pepper_id;
}

void FuzzAccountRecord(std::string_view value) {
  ServiceAccount account;
  const absl::Status status = storage::DecodeAccount(value, &account);
  if (!status.ok()) {
    FuzzCheck(absl::IsDataLoss(status), "account decode failure is DataLoss");
    return;
  }
  ServiceAccount again;
  FuzzCheck(storage::DecodeAccount(storage::EncodeAccount(account), &again)
                .ok(),
            "re-encoded account decodes");
  FuzzCheck(SameAccount(account, again), "account round-trips");
}

void FuzzTokenRecord(std::string_view value) {
  storage::StoredToken token;
  const absl::Status status = storage::DecodeToken(value, &token);
  if (!status.ok()) {
    FuzzCheck(absl::IsDataLoss(status), "token decode failure is DataLoss");
    return;
  }
  storage::StoredToken again;
  FuzzCheck(storage::DecodeToken(storage::EncodeToken(token), &again).ok(),
            "re-encoded token decodes");
  FuzzCheck(SameToken(token, again), "token round-trips");
}

void FuzzDigestRecord(std::string_view value) {
  std::string_view token_key;
  const absl::Status status = storage::DecodeDigestRecord(value, &token_key);
  if (!status.ok()) {
    FuzzCheck(absl::IsDataLoss(status), "digest decode failure is DataLoss");
    return;
  }
  const std::string encoded = storage::EncodeDigestRecord(token_key);
  std::string_view again;
  FuzzCheck(storage::DecodeDigestRecord(encoded, &again).ok(),
            "re-encoded digest record decodes");
  FuzzCheck(again == token_key, "digest record round-trips");
}

void FuzzKeys(std::string_view key) {
  std::string_view org, account, slug;
  if (storage::DecodeAccountKey(key, &org, &slug)) {
    FuzzCheck(!slug.empty(), "account key has a slug");
    const std::string encoded = storage::AccountKey(org, slug);
    std::string_view org2, slug2;
    FuzzCheck(storage::DecodeAccountKey(encoded, &org2, &slug2) &&
                  org2 == org && slug2 == slug,
              "account key round-trips");
    FuzzCheck(encoded.starts_with(storage::AccountPrefix(org)),
              "account key starts with its organization prefix");
  }
  if (storage::DecodeTokenKey(key, &org, &account, &slug)) {
    FuzzCheck(!slug.empty(), "token key has a slug");
    const std::string encoded = storage::TokenKey(org, account, slug);
    std::string_view org2, account2, slug2;
    FuzzCheck(storage::DecodeTokenKey(encoded, &org2, &account2, &slug2) &&
                  org2 == org && account2 == account && slug2 == slug,
              "token key round-trips");
    FuzzCheck(encoded.starts_with(storage::TokenPrefix(org, account)) &&
                  encoded.starts_with(storage::OrganizationPrefix(org)),
              "token key starts with its account and organization prefix");
  }
}

void FuzzDecoder(FuzzInput& ops, std::string_view bytes) {
  storage::Decoder decoder(bytes);
  for (int i = 0; i < 64 && !ops.empty(); ++i) {
    const size_t before = decoder.remaining().size();
    bool ok = false;
    switch (ops.ConsumeByte() % 5) {
      case 0: {
        uint8_t v;
        ok = decoder.GetByte(&v);
        break;
      }
      case 1: {
        uint32_t v;
        ok = decoder.GetVarint32(&v);
        if (ok) {
          std::string re;
          storage::PutVarint32(&re, v);
          storage::Decoder check(re);
          uint32_t w;
          FuzzCheck(check.GetVarint32(&w) && w == v && check.done(),
                    "varint round-trips");
        }
        break;
      }
      case 2: {
        std::string_view v;
        ok = decoder.GetLengthPrefixed(&v);
        break;
      }
      case 3: {
        uint64_t v;
        ok = decoder.GetFixed64BigEndian(&v);
        if (ok) {
          FuzzCheck(storage::EncodeTime(storage::DecodeTime(v)) == v,
                    "time encoding round-trips");
        }
        break;
      }
      default: {
        std::string_view v;
        const size_t n = ops.ConsumeByte();
        ok = decoder.GetBytes(n, &v);
        if (ok) FuzzCheck(v.size() == n, "GetBytes returns n bytes");
        break;
      }
    }
    const size_t after = decoder.remaining().size();
    FuzzCheck(after <= before, "decoder never grows");
    if (!ok && after == 0) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  FuzzInput input(data, size);
  const uint8_t selector = input.ConsumeByte();
  const std::string ops = input.ConsumeString(64);
  const std::string_view rest = input.ConsumeRest();
  // An owned copy, so ASan catches a read one past the value.
  const std::string value(rest);
  switch (selector % 5) {
    case 0:
      FuzzAccountRecord(value);
      break;
    case 1:
      FuzzTokenRecord(value);
      break;
    case 2:
      FuzzDigestRecord(value);
      break;
    case 3:
      FuzzKeys(value);
      break;
    default: {
      FuzzInput op_input(reinterpret_cast<const uint8_t*>(ops.data()),
                         ops.size());
      FuzzDecoder(op_input, value);
      break;
    }
  }
  return 0;
}
