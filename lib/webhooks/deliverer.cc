// lib/webhooks/deliverer.cc: the webhook delivery engine
// (keygate/webhook_deliverer.h).
//
// One dispatcher thread polls the store's endpoints every poll_interval (or
// when woken) and queues each enabled endpoint that is due and has nothing
// in flight, in a queue per organization (a worker puts an endpoint with
// more to send at once straight back there itself); `threads` workers each
// take one endpoint and make one step for it: re-read the endpoint, read
// its durable state, skip the outbox events that are not its business,
// send the first one that is, and record the attempt (the cursor, streak
// and circuit live in the store, so a restart resumes exactly there).
// In-memory state is only what is queued or in flight, when each endpoint
// may retry, and each organization's turn.
//
// Fairness across tenants: a free worker takes the front endpoint of the
// organization served least recently among those below their share of the
// workers, share = min(max_in_flight_per_organization,
// ceil(threads / organizations with work queued or in flight)); if every
// organization with queued work is at its share, the least recently served
// one below max_in_flight_per_organization (a worker does not idle while
// that cap allows work). So one organization's slow endpoints hold at most
// the workers nobody else asked for, and an organization that becomes due
// takes the next worker that comes free, ahead of the hog's queue.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "keygate/webhook_deliverer.h"
#include "lib/crypto/sodium.h"
#include "lib/webhooks/delivery_outcome.h"
#include "lib/webhooks/delivery_payload.h"
#include "lib/webhooks/signature.h"

namespace keygate {
namespace {

using EndpointKey = std::pair<std::string, std::string>;  // (org, id)

// EndpointSlot is the engine's in-memory view of one endpoint.
struct EndpointSlot {
  bool in_flight = false;
  // When the endpoint may be stepped again (InfinitePast: at once).
  absl::Time next_step = absl::InfinitePast();
};

// OrganizationWork is the engine's in-memory view of one organization.
struct OrganizationWork {
  // Endpoints due, in the order the dispatcher found them.
  std::deque<WebhookEndpoint> queued;
  // Endpoints a worker is stepping.
  size_t running = 0;
  // When a worker last took one of its endpoints (a pick count; 0: never).
  uint64_t turn = 0;
};

bool Subscribes(const WebhookEndpoint& endpoint, EventType type) {
  const std::string_view name = EventTypeName(type);
  return std::find(endpoint.event_names.begin(), endpoint.event_names.end(),
                   name) != endpoint.event_names.end();
}

double CsprngUnit() {
  constexpr uint32_t kRange = uint32_t{1} << 31;
  return static_cast<double>(crypto::RandomUniform(kRange)) / kRange;
}

class DelivererImpl final : public WebhookDeliverer {
 public:
  DelivererImpl(Store* store, std::shared_ptr<WebhookTransport> transport,
                WebhookDelivererOptions options)
      : store_(store),
        transport_(std::move(transport)),
        options_(std::move(options)),
        organization_cap_(options_.max_in_flight_per_organization == 0
                              ? options_.threads
                              : std::min(options_.threads,
                                         options_.max_in_flight_per_organization)) {}

  ~DelivererImpl() override { Stop(); }

  void StartThreads() {
    for (size_t i = 0; i < options_.threads; ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
    dispatcher_ = std::thread([this] { DispatchLoop(); });
  }

  void Wake() override {
    absl::MutexLock lock(&mu_);
    woken_ = true;
    dispatch_cv_.Signal();
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      stopping_ = true;
      dispatch_cv_.SignalAll();
      work_cv_.SignalAll();
    }
    if (dispatcher_.joinable()) dispatcher_.join();
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  absl::Time Now() const { return options_.clock(); }

  void DispatchLoop() {
    for (;;) {
      Dispatch();
      absl::MutexLock lock(&mu_);
      if (!stopping_ && !woken_) {
        dispatch_cv_.WaitWithTimeout(&mu_, options_.poll_interval);
      }
      if (stopping_) return;
      woken_ = false;
    }
  }

  // Dispatch queues every due endpoint and acknowledges the outbox.
  void Dispatch() ABSL_LOCKS_EXCLUDED(mu_) {
    if (options_.may_deliver && !options_.may_deliver()) {
      absl::MutexLock lock(&mu_);
      delivering_ = false;
      return;
    }
    absl::StatusOr<std::vector<WebhookEndpoint>> endpoints =
        store_->ListAllWebhookEndpoints();
    if (!endpoints.ok()) return;  // closed, or a read error: next poll
    const absl::Time now = Now();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (!delivering_) {
        delivering_ = true;
        // Endpoints left queued while it could not deliver.
        work_cv_.SignalAll();
      }
      absl::flat_hash_set<EndpointKey> present;
      absl::flat_hash_set<std::string> present_organizations;
      for (const WebhookEndpoint& e : *endpoints) {
        if (e.disabled) continue;
        EndpointKey key(e.organization, e.id);
        present.insert(key);
        present_organizations.insert(e.organization);
        EndpointSlot& slot = slots_[key];
        if (slot.in_flight || slot.next_step > now) continue;
        slot.in_flight = true;
        Enqueue(e);
        work_cv_.Signal();
      }
      DropQueuedAbsent(present);
      for (auto it = slots_.begin(); it != slots_.end();) {
        if (!it->second.in_flight && !present.contains(it->first)) {
          slots_.erase(it++);
        } else {
          ++it;
        }
      }
      // An organization's turn is kept while it has an enabled endpoint.
      for (auto it = organizations_.begin(); it != organizations_.end();) {
        if (it->second.running == 0 && it->second.queued.empty() &&
            !present_organizations.contains(it->first)) {
          organizations_.erase(it++);
        } else {
          ++it;
        }
      }
    }
    if (options_.acknowledge_events) Acknowledge(*endpoints);
  }

  // Acknowledge acks the outbox up to the lowest cursor of the enabled
  // endpoints of `listed`. The list is read again after the cursors: an
  // endpoint created meanwhile (its cursor may be lower than the others')
  // skips this round; one created after the second list starts at the
  // newest position, at or above every cursor read before.
  void Acknowledge(const std::vector<WebhookEndpoint>& listed) {
    uint64_t lowest = std::numeric_limits<uint64_t>::max();
    absl::flat_hash_set<EndpointKey> enabled;
    for (const WebhookEndpoint& e : listed) {
      if (e.disabled) continue;
      enabled.insert(EndpointKey(e.organization, e.id));
      absl::StatusOr<WebhookDeliveryState> state =
          store_->GetWebhookDeliveryState(e.organization, e.id);
      if (!state.ok()) return;
      lowest = std::min(lowest, state->cursor);
    }
    // No enabled endpoint: nothing says how far is safe; retention bounds
    // the outbox.
    if (enabled.empty()) return;
    absl::StatusOr<std::vector<WebhookEndpoint>> again =
        store_->ListAllWebhookEndpoints();
    if (!again.ok()) return;
    for (const WebhookEndpoint& e : *again) {
      if (!e.disabled && !enabled.contains(EndpointKey(e.organization, e.id))) {
        return;
      }
    }
    if (lowest <= acked_) return;
    if (store_->AckEvents(lowest).ok()) acked_ = lowest;
  }

  // Enqueue queues `endpoint` behind its organization's due endpoints.
  void Enqueue(const WebhookEndpoint& endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    OrganizationWork& work = organizations_[endpoint.organization];
    if (work.queued.empty() && work.running == 0) ++active_organizations_;
    if (work.queued.empty()) {
      waiting_.emplace(work.turn, endpoint.organization);
    }
    work.queued.push_back(endpoint);
  }

  // DropQueuedAbsent drops the queued endpoints not in `present` (deleted
  // or disabled since they were queued), so a tenant that creates and
  // deletes endpoints while its receivers hang cannot grow its queue.
  void DropQueuedAbsent(const absl::flat_hash_set<EndpointKey>& present)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [organization, work] : organizations_) {
      if (work.queued.empty()) continue;
      std::deque<WebhookEndpoint> kept;
      for (WebhookEndpoint& e : work.queued) {
        EndpointKey key(e.organization, e.id);
        if (present.contains(key)) {
          kept.push_back(std::move(e));
        } else if (auto slot = slots_.find(key); slot != slots_.end()) {
          slot->second.in_flight = false;
        }
      }
      work.queued = std::move(kept);
      if (!work.queued.empty()) continue;
      waiting_.erase({work.turn, organization});
      if (work.running == 0) --active_organizations_;
    }
  }

  // TakeNext takes the next endpoint for a free worker (see the file
  // comment), or nullopt if every organization with queued endpoints is at
  // max_in_flight_per_organization (or none has any).
  std::optional<WebhookEndpoint> TakeNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (waiting_.empty()) return std::nullopt;
    const size_t share =
        std::min(organization_cap_,
                 (options_.threads + active_organizations_ - 1) /
                     active_organizations_);
    auto chosen = FirstWaitingBelow(share);
    if (chosen == waiting_.end()) chosen = FirstWaitingBelow(organization_cap_);
    if (chosen == waiting_.end()) return std::nullopt;
    std::string organization = chosen->second;
    waiting_.erase(chosen);
    OrganizationWork& work = organizations_[organization];
    WebhookEndpoint endpoint = std::move(work.queued.front());
    work.queued.pop_front();
    ++work.running;
    work.turn = ++turns_;
    if (!work.queued.empty()) {
      waiting_.emplace(work.turn, std::move(organization));
    }
    return endpoint;
  }

  // FirstWaitingBelow is the least recently served waiting organization
  // with fewer than `limit` endpoints running, or waiting_.end(). It skips
  // at most threads / limit organizations: their running endpoints
  // together are at most `threads`.
  std::set<std::pair<uint64_t, std::string>>::iterator FirstWaitingBelow(
      size_t limit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (organizations_[it->second].running < limit) return it;
    }
    return waiting_.end();
  }

  // Finished records that a worker is done with an endpoint of
  // `organization`.
  void Finished(const std::string& organization)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = organizations_.find(organization);
    if (it == organizations_.end()) return;
    --it->second.running;
    if (it->second.running == 0 && it->second.queued.empty()) {
      --active_organizations_;
    }
    // A worker waiting for this organization to drop below its cap.
    if (!waiting_.empty()) work_cv_.Signal();
  }

  void WorkerLoop() {
    for (;;) {
      WebhookEndpoint endpoint;
      {
        absl::MutexLock lock(&mu_);
        std::optional<WebhookEndpoint> taken;
        // While the last round could not deliver, queued endpoints wait.
        while (!stopping_ && !(delivering_ && (taken = TakeNext()))) {
          work_cv_.Wait(&mu_);
        }
        if (stopping_) return;
        endpoint = *std::move(taken);
      }
      const std::optional<absl::Time> next = Step(endpoint);
      absl::MutexLock lock(&mu_);
      Finished(endpoint.organization);
      auto it = slots_.find(EndpointKey(endpoint.organization, endpoint.id));
      if (it == slots_.end()) continue;
      if (!next && delivering_ && !stopping_) {
        // More to send at once: straight back to its organization's queue,
        // still in flight for the dispatcher. Left to the next poll, this
        // worker would first take another organization's endpoint (a hog's
        // that hangs), and a tenant's backlog would drain one event per
        // freed worker.
        Enqueue(endpoint);
        work_cv_.Signal();
        continue;
      }
      it->second.in_flight = false;
      it->second.next_step = next.value_or(absl::InfinitePast());
      if (!next) {
        // More to do at once: do not wait for the next poll.
        woken_ = true;
        dispatch_cv_.Signal();
      }
    }
  }

  // Step makes one delivery step for `queued`, the endpoint as the
  // dispatcher listed it. Returns when the endpoint may be stepped again:
  // nullopt for at once (an event finished and more may follow),
  // InfinitePast for the next poll (idle).
  std::optional<absl::Time> Step(const WebhookEndpoint& queued) {
    // The queued copy may be minutes old (it waited for a worker): the
    // endpoint as stored now decides whether, where and what to post.
    absl::StatusOr<WebhookEndpoint> current =
        store_->GetWebhookEndpoint(queued.organization, queued.id);
    if (!current.ok() || current->disabled) return absl::InfinitePast();
    const WebhookEndpoint& endpoint = *current;
    const std::string& org = endpoint.organization;
    const std::string& id = endpoint.id;
    absl::StatusOr<WebhookDeliveryState> state =
        store_->GetWebhookDeliveryState(org, id);
    if (!state.ok()) return absl::InfinitePast();
    absl::StatusOr<std::vector<Event>> events =
        store_->ReadEvents(state->cursor, options_.read_batch);
    if (!events.ok() || events->empty()) return absl::InfinitePast();

    const Event* match = nullptr;
    for (const Event& e : *events) {
      if (e.organization == org && Subscribes(endpoint, e.type)) {
        match = &e;
        break;
      }
    }
    if (match == nullptr) {
      // None of these is the endpoint's business: move past them.
      WebhookDeliveryUpdate update;
      update.cursor = events->back().position;
      if (!store_->RecordWebhookDelivery(org, id, update).ok()) {
        return absl::InfinitePast();
      }
      return events->size() >= options_.read_batch
                 ? std::nullopt
                 : std::optional<absl::Time>(absl::InfinitePast());
    }

    WebhookDeliveryAttempt attempt;
    attempt.event_id = match->id;
    attempt.event_type = match->type;
    attempt.event_position = match->position;
    attempt.attempt = 1;
    if (!state->recent_attempts.empty()) {
      const WebhookDeliveryAttempt& last = state->recent_attempts.front();
      if (last.event_position == match->position &&
          last.event_id == match->id) {
        attempt.attempt = last.attempt + 1;
      }
    }
    attempt.time = Now();
    const auto started = std::chrono::steady_clock::now();
    const WebhookResponse response = Send(endpoint, *match, attempt.time);
    attempt.latency =
        absl::FromChrono(std::chrono::steady_clock::now() - started);
    attempt.http_status = response.http_status;
    attempt.error = response.error;

    const webhooks::DeliveryOutcome outcome =
        webhooks::ClassifyDelivery(response);
    WebhookDeliveryUpdate update;
    update.attempt = attempt;
    update.cursor = outcome == webhooks::DeliveryOutcome::kRetry
                        ? match->position - 1
                        : match->position;
    update.failure_streak_limit = options_.failure_streak_limit;
    absl::StatusOr<WebhookDeliveryState> written =
        store_->RecordWebhookDelivery(org, id, update);
    if (!written.ok()) {
      // Deleted meanwhile, or the store is closing: the dispatcher decides.
      return Now() + options_.poll_interval;
    }
    if (outcome != webhooks::DeliveryOutcome::kRetry) return std::nullopt;
    return Now() + RetryDelay(attempt.attempt, options_.retry_base,
                              options_.retry_cap, options_.random());
  }

  // Send signs `event` for `endpoint` and posts it. The signing secret is
  // read per attempt (a rotation takes effect at once) and wiped after.
  WebhookResponse Send(const WebhookEndpoint& endpoint, const Event& event,
                       absl::Time now) {
    WebhookResponse failed;
    failed.error = WebhookDeliveryError::kInternal;
    absl::StatusOr<SecretString> secret =
        store_->WebhookSigningSecret(endpoint.organization, endpoint.id);
    if (!secret.ok()) return failed;
    WebhookRequest request;
    request.url = endpoint.url;
    request.organization = endpoint.organization;
    request.endpoint_id = endpoint.id;
    request.body = webhooks::DeliveryPayload(event);
    const int64_t timestamp = absl::ToUnixSeconds(now);
    absl::StatusOr<std::string> signature = webhooks::SignWebhook(
        secret->view(), event.id, timestamp, request.body);
    if (!signature.ok()) return failed;
    request.headers = {
        {"content-type", "application/json"},
        {"user-agent", "keygate-webhooks/1"},
        {"webhook-id", event.id},
        {"webhook-timestamp", absl::StrCat(timestamp)},
        {"webhook-signature", *std::move(signature)},
    };
    request.target_policy = options_.target_policy;
    request.timeout = options_.request_timeout;
    return transport_->Post(request);
  }

  Store* const store_;
  const std::shared_ptr<WebhookTransport> transport_;
  const WebhookDelivererOptions options_;

  absl::Mutex mu_;
  absl::CondVar dispatch_cv_;
  absl::CondVar work_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  // What may_deliver said at the last dispatch round (false before one):
  // whether a worker may start a queued endpoint or queue one again itself.
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<EndpointKey, EndpointSlot> slots_ ABSL_GUARDED_BY(mu_);
  // max_in_flight_per_organization resolved (0: threads), at most threads.
  const size_t organization_cap_;
  // Organizations with an enabled endpoint or work queued or in flight.
  absl::flat_hash_map<std::string, OrganizationWork> organizations_
      ABSL_GUARDED_BY(mu_);
  // How many of them have work queued or in flight.
  size_t active_organizations_ ABSL_GUARDED_BY(mu_) = 0;
  // (turn, organization) of those with queued endpoints: least recently
  // served first.
  std::set<std::pair<uint64_t, std::string>> waiting_ ABSL_GUARDED_BY(mu_);
  // Endpoints taken by workers so far: the clock of the turns.
  uint64_t turns_ ABSL_GUARDED_BY(mu_) = 0;
  // The dispatcher's own: the last acknowledged position.
  uint64_t acked_ = 0;

  std::vector<std::thread> workers_;
  std::thread dispatcher_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookDeliverer>> WebhookDeliverer::Start(
    Store* store, std::shared_ptr<WebhookTransport> transport,
    WebhookDelivererOptions options) {
  if (store == nullptr || transport == nullptr) {
    return absl::InvalidArgumentError("webhook deliverer needs a store and a transport");
  }
  if (options.threads == 0 || options.threads > 256) {
    return absl::InvalidArgumentError("threads must be 1 to 256");
  }
  if (options.poll_interval <= absl::ZeroDuration() ||
      options.request_timeout <= absl::ZeroDuration() ||
      options.retry_base <= absl::ZeroDuration() ||
      options.retry_cap < options.retry_base) {
    return absl::InvalidArgumentError(
        "poll_interval, request_timeout and retry_base must be positive, "
        "retry_cap at least retry_base");
  }
  if (options.read_batch == 0) {
    return absl::InvalidArgumentError("read_batch must be positive");
  }
  if (!options.clock) options.clock = [] { return absl::Now(); };
  if (!options.random) options.random = CsprngUnit;
  auto deliverer = std::make_unique<DelivererImpl>(store, std::move(transport),
                                                   std::move(options));
  deliverer->StartThreads();
  return deliverer;
}

}  // namespace keygate
