// keygate/keyring.h: the pepper keyring, the secret keys of the token digest.
#ifndef KEYGATE_KEYRING_H_
#define KEYGATE_KEYRING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace keygate {

namespace crypto {
class KeyringKeys;
}  // namespace crypto

// DigestAlgorithm names the keyed digest a pepper computes (see
// docs/token-digest.md). The algorithm belongs to the pepper: every token
// digested under a pepper id uses that id's algorithm for its whole life.
enum class DigestAlgorithm : uint8_t {
  // "blake2b": libsodium keyed BLAKE2b-256 over the token. The algorithm of
  // every pepper line without an algorithm field (pepper files and stores
  // written before the field existed keep verifying).
  kBlake2bKeyed = 1,
  // "sha256": SHA-256 over a 64-byte secret block (the pepper and a domain
  // label) followed by the token; one SHA-256 compression for tokens of up
  // to 55 bytes, using the CPU's SHA extensions through OpenSSL libcrypto.
  // What new pepper files and rotations create.
  kSha256KeyBlock = 2,
};

// DigestAlgorithmName returns the pepper-file name of `algorithm` ("blake2b",
// "sha256"), or "" for a value outside the enum.
std::string_view DigestAlgorithmName(DigestAlgorithm algorithm);

// Keyring holds the peppers: 32-byte secret keys of the keyed digest that is
// the only thing storage keeps of a token. Each pepper has an id in
// [1, kMaxPepperId] and a DigestAlgorithm; the id is recorded in every token
// so rotating to a new pepper keeps older tokens valid. The active pepper
// (used for new tokens) is the one with the highest id.
//
// Key material lives in sodium_malloc'd, mlock'ed memory, is wiped on
// destruction, and is never printed. A Keyring is immutable after loading and
// safe for concurrent use without external synchronization.
//
// Pepper file format (text, one pepper per line, '#' starts a comment):
//   <id> <64 lowercase or uppercase hex digits> [<algorithm>]
// where <algorithm> is "blake2b" or "sha256"; absent means "blake2b" (the
// format before the field existed). The file must not be readable or
// writable by group or others.
class Keyring {
 public:
  static constexpr int kKeySize = 32;
  static constexpr int kMaxPepperId = 61;

  // Load reads the pepper file at `path`. Fails with NotFound if it does not
  // exist, PermissionDenied if its mode lets group/others access it, and
  // InvalidArgument (naming the line, never the key) if it is malformed,
  // empty, or repeats an id.
  static absl::StatusOr<std::shared_ptr<const Keyring>> Load(
      const std::string& path);

  // Parse reads pepper-file text already in memory (tests, hosts that keep
  // the pepper in a secret manager). Same errors as Load but for the mode.
  static absl::StatusOr<std::shared_ptr<const Keyring>> Parse(
      std::string_view text);

  // CreateFile writes a new pepper file holding one fresh random pepper with
  // id 1 and algorithm kSha256KeyBlock, mode 0600. Fails with AlreadyExists
  // if `path` exists.
  static absl::Status CreateFile(const std::string& path);

  // RotateFile appends a fresh random pepper whose id is one more than the
  // highest in the file, with algorithm kSha256KeyBlock; new tokens use it,
  // older tokens (of any algorithm) keep verifying.
  // Returns the new id. Fails with ResourceExhausted past kMaxPepperId.
  static absl::StatusOr<int> RotateFile(const std::string& path);

  virtual ~Keyring() = default;

  // active_id returns the id of the pepper new tokens are digested with.
  virtual int active_id() const = 0;
  // ids returns every pepper id, ascending.
  virtual std::vector<int> ids() const = 0;
  // algorithm returns the digest algorithm of pepper `id`; kBlake2bKeyed for
  // an id the keyring does not hold (callers check ids() first).
  virtual DigestAlgorithm algorithm(int id) const = 0;

 private:
  // Key material is read only by keygate's digest code (through
  // crypto::KeyringKeys), never by hosts.
  friend class crypto::KeyringKeys;

  // key returns the 32 key bytes of pepper `id`, or nullptr if absent; the
  // pointer lives as long as the keyring.
  virtual const uint8_t* key(int id) const = 0;
};

}  // namespace keygate

#endif  // KEYGATE_KEYRING_H_
