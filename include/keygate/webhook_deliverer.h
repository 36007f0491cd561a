// keygate/webhook_deliverer.h: the engine that delivers the event outbox
// (keygate/event.h) to every matching webhook endpoint (keygate/webhook.h),
// signed per Standard Webhooks, at least once.
//
// For each enabled endpoint the engine sends, in outbox order and one at a
// time, every event of the endpoint's organization whose name the endpoint
// subscribes to, recorded after the endpoint was created. Progress is
// durable (Store::RecordWebhookDelivery after every attempt), so a restart
// or a crash resumes where the store says: an event may be delivered again
// (receivers drop repeats by the webhook-id header) but never lost while
// it is retained. Failed attempts are retried with exponential backoff and
// full jitter: timeouts, connection errors, 408, 429, 5xx and every other
// non-2xx; a 4xx other than 408/429 fails that event for good (the engine
// moves on). After failure_streak_limit failed attempts in a row the
// endpoint is disabled, with a webhook_endpoint.disabled event.
//
// Endpoints are independent: each runs on a worker of a small pool, so a
// slow or dead endpoint occupies one worker for at most request_timeout
// per attempt and never delays the others while fewer than `threads`
// endpoints are slow at once. Organizations share the pool fairly: a free
// worker goes to the least recently served organization with a due
// endpoint waiting that is below its share, min(max_in_flight_per_
// organization, ceil(threads / organizations with work queued or in
// flight)); only when every waiting organization is at its share does one
// go beyond it (up to max_in_flight_per_organization), so no worker idles
// while there is work it may take. A tenant with many hanging receivers
// thus cannot starve another: an organization that becomes due takes the
// next worker that comes free (at most request_timeout away), ahead of
// the hog's queued endpoints; with max_in_flight_per_organization below
// `threads`, one organization never holds more than that many workers, so
// the rest stay free for the others even while it hangs. An endpoint with
// more to send at once goes straight back to its organization's queue, so
// a backlog drains on the workers its organization gets, not one event per
// worker the hog frees. Each step re-reads its endpoint before posting:
// one disabled, deleted or changed while it waited for a worker is not
// posted from the stale copy.
// Delivery touches the store only through its public calls (a few short
// writes per attempt), never the verify path.
//
// With acknowledge_events, the engine also acknowledges the outbox
// (Store::AckEvents) up to the lowest cursor of the enabled endpoints, so
// events are kept until every enabled endpoint is past them (or
// Options::event_retention drops them): it then owns the outbox's
// acknowledgements.
#ifndef KEYGATE_WEBHOOK_DELIVERER_H_
#define KEYGATE_WEBHOOK_DELIVERER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/store.h"
#include "keygate/webhook.h"
#include "keygate/webhook_transport.h"

namespace keygate {

// WebhookDelivererOptions configures a WebhookDeliverer.
struct WebhookDelivererOptions {
  // Where deliveries may go; checked again on every resolved address.
  // Default: {} (public addresses only).
  WebhookTargetPolicy target_policy;
  // Worker threads: how many endpoints may have a request in flight at
  // once. Default: 4.
  size_t threads = 4;
  // Most endpoints of one organization with a request in flight at once;
  // 0 or more than `threads`: `threads`. Below `threads`, however many of
  // one organization's receivers hang, threads - max_in_flight_per_organization
  // workers stay for the others. Default: 0 (`threads`).
  size_t max_in_flight_per_organization = 0;
  // How often the engine looks for new events and endpoints due. Default:
  // 250 ms.
  absl::Duration poll_interval = absl::Milliseconds(250);
  // Budget of one attempt (resolve, connect, send, read the response).
  // Default: 10 s.
  absl::Duration request_timeout = absl::Seconds(10);
  // Retry delay after the n-th failed attempt of an event: uniform in
  // [0, min(retry_cap, retry_base * 2^(n-1))] ("full jitter"). Default:
  // 1 s and 1 h.
  absl::Duration retry_base = absl::Seconds(1);
  absl::Duration retry_cap = absl::Hours(1);
  // Failed attempts in a row that disable an endpoint (0: never). Default:
  // 30, about 10 hours of an endpoint down under the default schedule
  // (expected delays 0.5 s, 1 s, ... up to the 1 h cap, halved by the
  // jitter): long enough to ride out a night's outage of a receiver, short
  // enough that a dead one stops costing a worker every hour. Permanent
  // 4xx answers count too: 30 events refused in a row is a broken receiver.
  uint32_t failure_streak_limit = 30;
  // Acknowledge the outbox up to the lowest enabled endpoint cursor.
  // Default: true.
  bool acknowledge_events = true;
  // Events read per endpoint step (one is sent; the rest are skipped over
  // when they do not match). Default: 100.
  size_t read_batch = 100;
  // The clock of retry times and webhook-timestamp. Default: absl::Now.
  std::function<absl::Time()> clock;
  // A uniform random number in [0, 1) for the jitter. Default: libsodium's
  // CSPRNG.
  std::function<double()> random;
  // Whether this process should deliver now, asked before every dispatch
  // round (attempts already started finish; endpoints queued but not
  // started wait for a round that may deliver): in a fleet, every process
  // runs an engine and only the elected one delivers (keygate serve holds
  // a PostgreSQL advisory lock for it). Default: empty (always).
  std::function<bool()> may_deliver;
};

// RetryDelay is the delay before retrying after `failed_attempts` (>= 1)
// failed attempts of one event: `unit_random` (in [0, 1)) times
// min(cap, base * 2^(failed_attempts - 1)). Never negative, never above cap.
absl::Duration RetryDelay(uint32_t failed_attempts, absl::Duration base,
                          absl::Duration cap, double unit_random);

// WebhookDeliverer runs the delivery engine over a Store until Stop.
// Thread-safe: Stop and Wake may be called from any thread.
class WebhookDeliverer {
 public:
  // Start starts the engine's threads over `store` (not owned; must outlive
  // the deliverer) sending through `transport`. InvalidArgument for options
  // out of range (threads 0, non-positive durations).
  static absl::StatusOr<std::unique_ptr<WebhookDeliverer>> Start(
      Store* store, std::shared_ptr<WebhookTransport> transport,
      WebhookDelivererOptions options);

  virtual ~WebhookDeliverer() = default;

  // Wake makes the engine look for due work now rather than at its next
  // poll (e.g. after a write that recorded events).
  virtual void Wake() = 0;

  // Stop stops starting attempts and joins every thread; an attempt in
  // flight finishes (bounded by request_timeout) and is recorded.
  // Idempotent; the destructor calls it.
  virtual void Stop() = 0;
};

}  // namespace keygate

#endif  // KEYGATE_WEBHOOK_DELIVERER_H_
