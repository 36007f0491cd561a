// tools/keygate/webhook_host_lookup.h: name resolution for webhook delivery
// bounded by the attempt's deadline.
//
// The system resolver (getaddrinfo) blocks for as long as DNS takes, with
// no way to cancel it. WebhookHostLookup runs each lookup on a detached
// worker thread that writes into a result slot shared with the caller; the
// caller waits for the slot until the deadline and then gives up
// (kTimeout), leaving the worker to finish and free the slot on its own.
// Because an abandoned worker still holds a thread, at most
// `max_in_flight` lookups (finished or abandoned workers not yet returned)
// exist per WebhookHostLookup: a lookup beyond the cap fails at once with
// kTimeout, without starting a thread, so a hostile slow DNS server cannot
// make the process create threads without bound.
#ifndef KEYGATE_TOOLS_KEYGATE_WEBHOOK_HOST_LOOKUP_H_
#define KEYGATE_TOOLS_KEYGATE_WEBHOOK_HOST_LOOKUP_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keygate/webhook_delivery.h"

namespace keygate::tool {

// HostResolver returns the addresses (IPv4 or IPv6 text) `host` resolves
// to, empty if it does not resolve. It may block; it must not throw.
using HostResolver =
    std::function<std::vector<std::string>(const std::string& host)>;

// SystemHostResolver resolves `host` with getaddrinfo (TCP, IPv4 and IPv6)
// and returns the distinct addresses as text, empty on any failure.
// Blocking; thread-safe.
std::vector<std::string> SystemHostResolver(const std::string& host);

// HostLookupResult is a lookup's outcome: the addresses (error kNone,
// possibly empty when the name does not resolve), or kTimeout (the
// deadline passed, or the cap on lookups in flight was reached), or
// kInternal (no worker thread could be started).
struct HostLookupResult {
  WebhookDeliveryError error = WebhookDeliveryError::kNone;
  std::vector<std::string> addresses;
};

// WebhookHostLookup runs HostResolvers under a deadline, at most
// max_in_flight at a time. Safe for concurrent use without external
// synchronization. Destroying it does not wait for its workers: they hold
// their own share of the state they touch.
class WebhookHostLookup {
 public:
  // Default: 64 lookups in flight, per object (serve has one transport, so
  // one per process).
  static constexpr size_t kDefaultMaxInFlight = 64;

  explicit WebhookHostLookup(size_t max_in_flight = kDefaultMaxInFlight);
  ~WebhookHostLookup();
  WebhookHostLookup(const WebhookHostLookup&) = delete;
  WebhookHostLookup& operator=(const WebhookHostLookup&) = delete;

  // Lookup runs resolver(host) on a worker thread and returns its answer
  // if it comes before `deadline`, else kTimeout (the worker runs on,
  // counted against the cap until it returns). Over the cap: kTimeout at
  // once. `resolver` is copied into the worker; whatever it captures must
  // outlive the worker.
  HostLookupResult Lookup(const HostResolver& resolver,
                          const std::string& host,
                          std::chrono::steady_clock::time_point deadline);

  // InFlight returns the number of workers that have not returned yet
  // (for tests and diagnostics).
  size_t InFlight() const;

 private:
  struct Shared;
  const std::shared_ptr<Shared> shared_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_WEBHOOK_HOST_LOOKUP_H_
