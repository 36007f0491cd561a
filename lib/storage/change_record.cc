// lib/storage/change_record.cc: encoding of change log records and keys.
#include "lib/storage/change_record.h"

#include <cstring>

#include "lib/storage/coding.h"
#include "lib/storage/keys.h"
#include "lib/storage/records.h"

namespace keygate::storage {

namespace {

// A purge chunk or an account delete names at most this many tokens in one
// record (the writers bound theirs far lower; the decoder bounds any).
constexpr uint32_t kMaxDeletedDigests = 1u << 24;

absl::Status CorruptChange() {
  return absl::DataLossError("corrupt change record");
}

bool IsKnownKind(uint8_t kind) {
  return kind >= static_cast<uint8_t>(ChangeKind::kAccountCreated) &&
         kind <= static_cast<uint8_t>(ChangeKind::kTokenRotated);
}

bool GetString(Decoder& decoder, std::string* out) {
  std::string_view view;
  if (!decoder.GetLengthPrefixed(&view)) return false;
  out->assign(view.data(), view.size());
  return true;
}

}  // namespace

std::string ChangeKey(uint64_t position) {
  std::string key(kChangePrefix);
  PutFixed64BigEndian(&key, position);
  return key;
}

bool DecodeChangeKey(std::string_view key, uint64_t* position) {
  if (key.substr(0, kChangePrefix.size()) != kChangePrefix) return false;
  Decoder decoder(key.substr(kChangePrefix.size()));
  return decoder.GetFixed64BigEndian(position) && decoder.done();
}

std::string EncodeChange(const ChangeRecord& change) {
  std::string value;
  value.push_back(static_cast<char>(kRecordVersion));
  value.push_back(static_cast<char>(change.kind));
  PutFixed64BigEndian(&value, EncodeTime(change.written_at));
  PutLengthPrefixed(&value, change.organization);
  PutLengthPrefixed(&value, change.service_account);
  PutLengthPrefixed(&value, change.token_slug);
  PutVarint32(&value, static_cast<uint32_t>(change.deleted_digests.size()));
  for (const Digest& digest : change.deleted_digests) {
    value.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  }
  return value;
}

absl::Status DecodeChange(std::string_view value, ChangeRecord* change) {
  Decoder decoder(value);
  uint8_t version, kind;
  uint64_t written_at;
  uint32_t count;
  if (!decoder.GetByte(&version) || version != kRecordVersion ||
      !decoder.GetByte(&kind) || !IsKnownKind(kind) ||
      !decoder.GetFixed64BigEndian(&written_at) ||
      !GetString(decoder, &change->organization) ||
      !GetString(decoder, &change->service_account) ||
      !GetString(decoder, &change->token_slug) ||
      !decoder.GetVarint32(&count) || count > kMaxDeletedDigests ||
      decoder.remaining().size() != size_t{count} * kDigestSize) {
    return CorruptChange();
  }
  change->kind = static_cast<ChangeKind>(kind);
  change->written_at = DecodeTime(written_at);
  change->deleted_digests.resize(count);
  std::string_view digests = decoder.remaining();
  for (uint32_t i = 0; i < count; ++i) {
    std::memcpy(change->deleted_digests[i].data(),
                digests.data() + size_t{i} * kDigestSize, kDigestSize);
  }
  return absl::OkStatus();
}

}  // namespace keygate::storage
