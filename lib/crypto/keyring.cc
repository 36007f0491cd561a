// lib/crypto/keyring.cc: the pepper keyring and its file.
#include "keygate/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/crypto/sodium.h"

namespace keygate {
namespace {

constexpr size_t kKeySize = Keyring::kKeySize;
constexpr int kMaxPepperId = Keyring::kMaxPepperId;
constexpr size_t kHexSize = 2 * kKeySize;

// A pepper file is a few lines; anything larger is not one.
constexpr size_t kMaxFileSize = 64 * 1024;

// KeyBlock is the sodium_malloc'd key material: one slot per possible id.
struct KeyBlock {
  uint8_t keys[kMaxPepperId + 1][kKeySize];
};

// SodiumBlock owns a sodium_malloc'd KeyBlock (guard pages, mlock'ed, wiped
// by sodium_free).
class SodiumBlock {
 public:
  SodiumBlock()
      : block_(static_cast<KeyBlock*>(sodium_malloc(sizeof(KeyBlock)))) {
    if (block_ != nullptr) sodium_memzero(block_, sizeof(KeyBlock));
  }
  ~SodiumBlock() {
    if (block_ != nullptr) sodium_free(block_);
  }
  SodiumBlock(SodiumBlock&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)) {}
  SodiumBlock& operator=(SodiumBlock&&) = delete;

  KeyBlock* get() const { return block_; }

 private:
  KeyBlock* block_;
};

// WipedBuffer is heap scratch that may hold key text; wiped when destroyed.
class WipedBuffer {
 public:
  WipedBuffer() = default;
  ~WipedBuffer() { Wipe(); }
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;

  // Reset discards the contents (wiped) and allocates `n` zeroed bytes.
  void Reset(size_t n) {
    Wipe();
    data_ = std::make_unique<char[]>(n);
    capacity_ = n;
  }
  char* data() { return data_.get(); }
  size_t capacity() const { return capacity_; }
  std::string_view view(size_t n) const { return {data_.get(), n}; }

 private:
  void Wipe() {
    if (data_ != nullptr) sodium_memzero(data_.get(), capacity_);
    data_.reset();
    capacity_ = 0;
  }
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Algorithms is the digest algorithm of every id (kBlake2bKeyed if absent).
using Algorithms = std::array<DigestAlgorithm, kMaxPepperId + 1>;

// The algorithm new pepper lines get (CreateFile, RotateFile).
constexpr DigestAlgorithm kNewPepperAlgorithm = DigestAlgorithm::kSha256KeyBlock;

// ParseAlgorithm maps a pepper-file algorithm name to its value.
bool ParseAlgorithm(std::string_view name, DigestAlgorithm* out) {
  for (DigestAlgorithm a :
       {DigestAlgorithm::kBlake2bKeyed, DigestAlgorithm::kSha256KeyBlock}) {
    if (name == DigestAlgorithmName(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}

class KeyringImpl final : public Keyring {
 public:
  KeyringImpl(SodiumBlock block, std::array<bool, kMaxPepperId + 1> present,
              const Algorithms& algorithms)
      : block_(std::move(block)), present_(present), algorithms_(algorithms) {
    for (int id = kMaxPepperId; id >= 1; --id) {
      if (present_[id]) {
        active_id_ = id;
        break;
      }
    }
    // Keys are never written again: make any stray write fault.
    sodium_mprotect_readonly(block_.get());
  }

  int active_id() const override { return active_id_; }

  std::vector<int> ids() const override {
    std::vector<int> out;
    for (int id = 1; id <= kMaxPepperId; ++id) {
      if (present_[id]) out.push_back(id);
    }
    return out;
  }

  DigestAlgorithm algorithm(int id) const override {
    if (id < 1 || id > kMaxPepperId || !present_[id]) {
      return DigestAlgorithm::kBlake2bKeyed;
    }
    return algorithms_[id];
  }

  const uint8_t* key(int id) const override {
    if (id < 1 || id > kMaxPepperId || !present_[id]) return nullptr;
    return block_.get()->keys[id];
  }

 private:
  SodiumBlock block_;
  std::array<bool, kMaxPepperId + 1> present_;
  Algorithms algorithms_;
  int active_id_ = 0;
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

absl::Status LineError(int line, std::string_view what) {
  // Never quote the line: it may hold key material.
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": ", std::string(what)));
}

// ParseInto parses pepper-file `text` into `block`, marking `present`.
// Returns the number of peppers. Error messages never contain key material.
absl::StatusOr<int> ParseInto(std::string_view text, KeyBlock* block,
                              std::array<bool, kMaxPepperId + 1>* present,
                              Algorithms* algorithms) {
  std::array<int, kMaxPepperId + 1> first_line{};
  int count = 0;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);

    const size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;

    // <id>
    size_t i = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
    if (i == 0 || i > 2 || i == line.size() || !IsSpace(line[i])) {
      return LineError(line_number,
                       "expected '<id> <64 hex digits> [<algorithm>]' with id 1..61");
    }
    int id = 0;
    for (size_t k = 0; k < i; ++k) id = id * 10 + (line[k] - '0');
    if (id < 1 || id > kMaxPepperId) {
      return LineError(line_number,
                       absl::StrCat("pepper id ", id, " is out of range 1..",
                                    kMaxPepperId));
    }
    if ((*present)[id]) {
      return LineError(line_number,
                       absl::StrCat("duplicate pepper id ", id,
                                    " (first on line ", first_line[id], ")"));
    }

    // <64 hex digits> [<algorithm>]
    std::string_view rest = Trim(line.substr(i));
    size_t hex_end = 0;
    while (hex_end < rest.size() && !IsSpace(rest[hex_end])) ++hex_end;
    const std::string_view hex = rest.substr(0, hex_end);
    const std::string_view algorithm_name = Trim(rest.substr(hex_end));
    DigestAlgorithm algorithm = DigestAlgorithm::kBlake2bKeyed;
    if (!algorithm_name.empty() &&
        !ParseAlgorithm(algorithm_name, &algorithm)) {
      // The name is not key material, but it is hostile text: never quote it.
      return LineError(line_number,
                       absl::StrCat("pepper ", id,
                                    " must be 64 hex digits, then optionally "
                                    "the algorithm 'blake2b' or 'sha256'"));
    }
    if (hex.size() != kHexSize) {
      return LineError(line_number,
                       absl::StrCat("the key of pepper ", id, " must be ",
                                    kHexSize, " hex digits (32 bytes)"));
    }
    for (char c : hex) {
      if (!IsHexDigit(c)) {
        return LineError(line_number,
                         absl::StrCat("the key of pepper ", id,
                                      " contains a non-hex character"));
      }
    }
    size_t bin_len = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(block->keys[id], kKeySize, hex.data(), hex.size(),
                       nullptr, &bin_len, &end) != 0 ||
        bin_len != kKeySize || end != hex.data() + hex.size()) {
      return LineError(line_number,
                       absl::StrCat("the key of pepper ", id,
                                    " is not valid hex"));
    }
    (*present)[id] = true;
    (*algorithms)[id] = algorithm;
    first_line[id] = line_number;
    ++count;
  }
  return count;
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer.
  return std::string(strerror_r(err, buf, sizeof buf));
}

absl::Status ErrnoStatus(int err, std::string_view what,
                         const std::string& path) {
  const std::string msg =
      absl::StrCat(std::string(what), " ", path, ": ", ErrnoText(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
      return absl::InvalidArgumentError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EINTR:
    case EAGAIN:
    case EIO:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// CheckPath refuses paths the C file API would misread.
absl::Status CheckPath(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("the pepper file path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        "the pepper file path contains a NUL byte");
  }
  return absl::OkStatus();
}

// Fd closes a file descriptor when destroyed.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Close closes now and reports the error, for writers.
  int Close() {
    const int rc = close(std::exchange(fd_, -1));
    return rc;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, const char* data, size_t n,
                      const std::string& path) {
  while (n > 0) {
    const ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write pepper file", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// SyncParentDir makes a new directory entry durable.
absl::Status SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0              ? std::string("/")
                                                    : path.substr(0, slash);
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  if (fsync(fd.get()) != 0 && errno != EINVAL) {
    return ErrnoStatus(errno, "cannot sync directory", dir);
  }
  return absl::OkStatus();
}

// CheckPepperFd takes a flock of `lock_op` on the open pepper file and checks
// it is a regular file with no group/other access.
absl::Status CheckPepperFd(int fd, const std::string& path, int lock_op) {
  while (flock(fd, lock_op) != 0) {
    if (errno != EINTR) {
      return ErrnoStatus(errno, "cannot lock pepper file", path);
    }
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return ErrnoStatus(errno, "cannot stat pepper file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pepper file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "pepper file %s has mode %04o, which lets group or others access it; "
        "it holds secret keys: run `chmod 600 %s`",
        path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

// ReadPepperFd reads the whole file into `buf` (wiped by its owner) and
// returns the number of bytes read.
absl::StatusOr<size_t> ReadPepperFd(int fd, const std::string& path,
                                    WipedBuffer* buf) {
  buf->Reset(kMaxFileSize + 1);
  size_t size = 0;
  while (size < buf->capacity()) {
    const ssize_t r = read(fd, buf->data() + size, buf->capacity() - size);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read pepper file", path);
    }
    if (r == 0) break;
    size += static_cast<size_t>(r);
  }
  if (size > kMaxFileSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pepper file ", path, " is larger than ", kMaxFileSize, " bytes"));
  }
  return size;
}

// WithSource prefixes a parse error with what was being parsed.
absl::Status WithSource(const absl::Status& status, std::string_view source) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(std::string(source), ": ",
                                                  status.message()));
}

// NewKeyLine returns "<id> <64 hex> <algorithm>\n" for a fresh random key of
// kNewPepperAlgorithm, in `out`.
void NewKeyLine(int id, WipedBuffer* out, size_t* size) {
  uint8_t key[kKeySize];
  crypto::RandomBytes(key, sizeof key);
  char hex[kHexSize + 1];
  sodium_bin2hex(hex, sizeof hex, key, sizeof key);
  sodium_memzero(key, sizeof key);
  const std::string id_text = std::to_string(id);
  const std::string_view algorithm = DigestAlgorithmName(kNewPepperAlgorithm);
  out->Reset(id_text.size() + 1 + kHexSize + 1 + algorithm.size() + 1);
  char* p = out->data();
  std::memcpy(p, id_text.data(), id_text.size());
  p += id_text.size();
  *p++ = ' ';
  std::memcpy(p, hex, kHexSize);
  p += kHexSize;
  *p++ = ' ';
  std::memcpy(p, algorithm.data(), algorithm.size());
  p += algorithm.size();
  *p++ = '\n';
  *size = static_cast<size_t>(p - out->data());
  sodium_memzero(hex, sizeof hex);
}

absl::StatusOr<std::shared_ptr<const Keyring>> ParseText(
    std::string_view text) {
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  SodiumBlock block;
  if (block.get() == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate secure memory for the pepper keyring");
  }
  std::array<bool, kMaxPepperId + 1> present{};
  Algorithms algorithms;
  algorithms.fill(DigestAlgorithm::kBlake2bKeyed);
  absl::StatusOr<int> count =
      ParseInto(text, block.get(), &present, &algorithms);
  if (!count.ok()) return count.status();
  if (*count == 0) {
    return absl::InvalidArgumentError(
        "holds no pepper (expected lines '<id> <64 hex digits>')");
  }
  return std::make_shared<const KeyringImpl>(std::move(block), present,
                                             algorithms);
}

}  // namespace

std::string_view DigestAlgorithmName(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kBlake2bKeyed:
      return "blake2b";
    case DigestAlgorithm::kSha256KeyBlock:
      return "sha256";
  }
  return "";
}

absl::StatusOr<std::shared_ptr<const Keyring>> Keyring::Parse(
    std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring = ParseText(text);
  if (!keyring.ok()) return WithSource(keyring.status(), "pepper keyring");
  return keyring;
}

absl::StatusOr<std::shared_ptr<const Keyring>> Keyring::Load(
    const std::string& path) {
  if (absl::Status s = CheckPath(path); !s.ok()) return s;
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open pepper file", path);
  if (absl::Status s = CheckPepperFd(fd.get(), path, LOCK_SH); !s.ok()) {
    return s;
  }
  WipedBuffer buf;
  absl::StatusOr<size_t> size = ReadPepperFd(fd.get(), path, &buf);
  if (!size.ok()) return size.status();
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      ParseText(buf.view(*size));
  if (!keyring.ok()) return WithSource(keyring.status(), "pepper file " + path);
  return keyring;
}

absl::Status Keyring::CreateFile(const std::string& path) {
  if (absl::Status s = CheckPath(path); !s.ok()) return s;
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return ErrnoStatus(errno, "cannot create pepper file", path);
  }
  static constexpr std::string_view kHeader =
      "# keygate pepper keyring: secret keys of the token digest.\n"
      "# Keep it mode 0600, apart from the store; back it up; never commit\n"
      "# it. Losing it invalidates every token.\n"
      "# Lines: <id> <64 hex digits> [<algorithm>: blake2b (default), sha256].\n";
  WipedBuffer line;
  size_t line_size = 0;
  NewKeyLine(1, &line, &line_size);
  absl::Status s = WriteAll(fd.get(), kHeader.data(), kHeader.size(), path);
  if (s.ok()) s = WriteAll(fd.get(), line.data(), line_size, path);
  if (s.ok() && fsync(fd.get()) != 0) {
    s = ErrnoStatus(errno, "cannot sync pepper file", path);
  }
  if (s.ok() && fd.Close() != 0) {
    s = ErrnoStatus(errno, "cannot close pepper file", path);
  }
  if (!s.ok()) {
    // Do not leave a partial keyring behind: a retry must be possible.
    unlink(path.c_str());
    return s;
  }
  return SyncParentDir(path);
}

absl::StatusOr<int> Keyring::RotateFile(const std::string& path) {
  if (absl::Status s = CheckPath(path); !s.ok()) return s;
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  Fd fd(open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open pepper file", path);
  // The exclusive lock serializes concurrent rotations and readers.
  if (absl::Status s = CheckPepperFd(fd.get(), path, LOCK_EX); !s.ok()) {
    return s;
  }
  int new_id = 0;
  bool ends_with_newline = true;
  {
    WipedBuffer buf;
    absl::StatusOr<size_t> size = ReadPepperFd(fd.get(), path, &buf);
    if (!size.ok()) return size.status();
    absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
        ParseText(buf.view(*size));
    if (!keyring.ok()) {
      return WithSource(keyring.status(), "pepper file " + path);
    }
    new_id = (*keyring)->active_id() + 1;
    ends_with_newline = *size == 0 || buf.data()[*size - 1] == '\n';
  }
  if (new_id > kMaxPepperId) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "pepper file ", path, " already holds pepper id ", kMaxPepperId,
        ", the highest a token can name"));
  }
  WipedBuffer line;
  size_t line_size = 0;
  NewKeyLine(new_id, &line, &line_size);
  absl::Status s = absl::OkStatus();
  if (!ends_with_newline) s = WriteAll(fd.get(), "\n", 1, path);
  if (s.ok()) s = WriteAll(fd.get(), line.data(), line_size, path);
  if (s.ok() && fsync(fd.get()) != 0) {
    s = ErrnoStatus(errno, "cannot sync pepper file", path);
  }
  if (s.ok() && fd.Close() != 0) {
    s = ErrnoStatus(errno, "cannot close pepper file", path);
  }
  if (!s.ok()) return s;
  return new_id;
}

}  // namespace keygate
