// bench/peers/redis_connection.cc: see redis_connection.h.
#include "bench/peers/redis_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace keygate::bench {

namespace {

void AppendCommand(std::string& out,
                   std::initializer_list<std::string_view> args) {
  absl::StrAppend(&out, "*", args.size(), "\r\n");
  for (std::string_view arg : args) {
    absl::StrAppend(&out, "$", arg.size(), "\r\n");
    out.append(arg);
    out.append("\r\n");
  }
}

}  // namespace

absl::StatusOr<RedisConnection> RedisConnection::Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
      0) {
    const int e = errno;
    ::close(fd);
    return absl::ErrnoToStatus(e,
                               absl::StrCat("connect to redis on port ", port));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RedisConnection(fd);
}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      in_(std::move(other.in_)),
      in_pos_(other.in_pos_) {}

RedisConnection::~RedisConnection() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status RedisConnection::SetAll(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  constexpr size_t kPipeline = 1000;
  for (size_t begin = 0; begin < pairs.size(); begin += kPipeline) {
    const size_t end = std::min(pairs.size(), begin + kPipeline);
    std::string out;
    for (size_t i = begin; i < end; ++i) {
      AppendCommand(out, {"SET", pairs[i].first, pairs[i].second});
    }
    if (absl::Status s = SendAll(out); !s.ok()) return s;
    for (size_t i = begin; i < end; ++i) {
      absl::StatusOr<bool> reply = ReadReply(nullptr);
      if (!reply.ok()) return reply.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> RedisConnection::Get(
    std::string_view key) {
  std::string out;
  AppendCommand(out, {"GET", key});
  if (absl::Status s = SendAll(out); !s.ok()) return s;
  std::string value;
  absl::StatusOr<bool> present = ReadReply(&value);
  if (!present.ok()) return present.status();
  if (!*present) return std::nullopt;
  return value;
}

absl::Status RedisConnection::SendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "send to redis");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Fill() {
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      in_.append(buffer, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) return absl::UnavailableError("redis closed the connection");
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "recv from redis");
  }
}

absl::StatusOr<std::string> RedisConnection::ReadLine() {
  for (;;) {
    const size_t end = in_.find("\r\n", in_pos_);
    if (end != std::string::npos) {
      std::string line = in_.substr(in_pos_, end - in_pos_);
      in_pos_ = end + 2;
      return line;
    }
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
}

absl::StatusOr<bool> RedisConnection::ReadReply(std::string* value) {
  absl::StatusOr<std::string> line = ReadLine();
  if (!line.ok()) return line.status();
  if (line->empty()) return absl::DataLossError("empty redis reply");
  switch ((*line)[0]) {
    case '+':
    case ':':
      return true;
    case '-':
      return absl::InternalError(absl::StrCat("redis: ", line->substr(1)));
    case '$': {
      int64_t size = 0;
      if (!absl::SimpleAtoi(
              absl::string_view(line->data() + 1, line->size() - 1), &size)) {
        return absl::DataLossError("bad redis bulk length");
      }
      if (size < 0) return false;
      while (in_.size() - in_pos_ < static_cast<size_t>(size) + 2) {
        if (absl::Status s = Fill(); !s.ok()) return s;
      }
      if (value != nullptr)
        value->assign(in_, in_pos_, static_cast<size_t>(size));
      in_pos_ += static_cast<size_t>(size) + 2;
      return true;
    }
    default:
      return absl::DataLossError("unexpected redis reply type");
  }
}

}  // namespace keygate::bench
