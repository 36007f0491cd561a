#include "tools/keygate/webhook_host_lookup.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace keygate::tool {

std::vector<std::string> SystemHostResolver(const std::string& host) {
  std::vector<std::string> addresses;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) {
    return addresses;
  }
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (ai->ai_family == AF_INET) {
      raw = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (::inet_ntop(ai->ai_family, raw, text, sizeof text) == nullptr) {
      continue;
    }
    std::string address(text);
    if (std::find(addresses.begin(), addresses.end(), address) ==
        addresses.end()) {
      addresses.push_back(std::move(address));
    }
  }
  ::freeaddrinfo(list);
  return addresses;
}

struct WebhookHostLookup::Shared {
  explicit Shared(size_t max) : max_in_flight(max) {}
  const size_t max_in_flight;
  mutable absl::Mutex mu;
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;
};

namespace {

// Slot is one lookup's result, shared by the caller (who may give up) and
// the worker (who always finishes).
struct Slot {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  std::vector<std::string> addresses ABSL_GUARDED_BY(mu);
};

}  // namespace

WebhookHostLookup::WebhookHostLookup(size_t max_in_flight)
    : shared_(std::make_shared<Shared>(max_in_flight)) {}

WebhookHostLookup::~WebhookHostLookup() = default;

size_t WebhookHostLookup::InFlight() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->in_flight;
}

HostLookupResult WebhookHostLookup::Lookup(
    const HostResolver& resolver, const std::string& host,
    std::chrono::steady_clock::time_point deadline) {
  HostLookupResult result;
  if (deadline <= std::chrono::steady_clock::now()) {
    result.error = WebhookDeliveryError::kTimeout;
    return result;
  }
  // Allocated before a place is taken: a std::bad_alloc here must not
  // keep a place that no worker will ever give back.
  auto slot = std::make_shared<Slot>();
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->in_flight >= shared_->max_in_flight) {
      result.error = WebhookDeliveryError::kTimeout;
      return result;
    }
    ++shared_->in_flight;
  }
  try {
    std::thread([shared = shared_, slot, resolver, host] {
      std::vector<std::string> addresses;
      try {
        addresses = resolver ? resolver(host) : SystemHostResolver(host);
      } catch (...) {
        addresses.clear();  // an answer nobody can trust: none
      }
      {
        absl::MutexLock lock(&slot->mu);
        slot->addresses = std::move(addresses);
        slot->done = true;
      }
      absl::MutexLock lock(&shared->mu);
      --shared->in_flight;
    }).detach();
  } catch (const std::exception&) {
    // std::system_error (no thread) or std::bad_alloc (copying the
    // resolver or host): no worker, so give the place back.
    absl::MutexLock lock(&shared_->mu);
    --shared_->in_flight;
    result.error = WebhookDeliveryError::kInternal;
    return result;
  }
  // Waited for against the steady clock, in slices of at most a second:
  // this Abseil's Mutex deadlines are wall-clock times (even a relative
  // timeout becomes one), and a wall clock stepped back (NTP, an operator)
  // must not stretch the attempt past its deadline.
  absl::MutexLock lock(&slot->mu);
  while (!slot->done) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      result.error = WebhookDeliveryError::kTimeout;
      return result;
    }
    const absl::Duration slice = std::min(
        absl::FromChrono(
            std::chrono::duration_cast<std::chrono::nanoseconds>(left)),
        absl::Seconds(1));
    slot->mu.AwaitWithTimeout(absl::Condition(&slot->done), slice);
  }
  result.addresses = std::move(slot->addresses);
  return result;
}

}  // namespace keygate::tool
