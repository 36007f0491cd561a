// bench/peers/redis_connection.h: a minimal blocking Redis client over
// loopback TCP, for the peer benchmark only.
//
// It speaks just enough RESP2 for the benchmark: pipelined SET to load the
// digests, and GET as a user's verify would do it. Not a general client: it
// handles bulk-string, simple-string, error and integer replies, nothing else.
#ifndef KEYGATE_BENCH_PEERS_REDIS_CONNECTION_H_
#define KEYGATE_BENCH_PEERS_REDIS_CONNECTION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace keygate::bench {

// RedisConnection is one TCP connection to a Redis server. Not thread-safe.
class RedisConnection {
 public:
  // Connect opens a connection to 127.0.0.1:`port` (TCP_NODELAY).
  static absl::StatusOr<RedisConnection> Connect(int port);

  RedisConnection(RedisConnection&& other) noexcept;
  RedisConnection& operator=(RedisConnection&&) = delete;
  ~RedisConnection();

  // SetAll sends SET key value for every pair in one pipeline and reads every
  // reply; fails on the first error reply.
  absl::Status SetAll(
      const std::vector<std::pair<std::string, std::string>>& pairs);

  // Get sends GET key and returns the value, or nullopt for a nil reply.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key);

 private:
  explicit RedisConnection(int fd) : fd_(fd) {}
  absl::Status SendAll(std::string_view bytes);
  // ReadReply reads one reply; a bulk string's payload goes to *value.
  absl::StatusOr<bool> ReadReply(std::string* value);
  absl::StatusOr<std::string> ReadLine();
  absl::Status Fill();

  int fd_ = -1;
  std::string in_;
  size_t in_pos_ = 0;
};

}  // namespace keygate::bench

#endif  // KEYGATE_BENCH_PEERS_REDIS_CONNECTION_H_
