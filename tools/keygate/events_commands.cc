// tools/keygate/events_commands.cc: `keygate events tail`, the store's event
// outbox (Store::ReadEvents / AckEvents) as one JSON object per line.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keygate/event.h"
#include "keygate/store.h"
#include "lib/http/json_codec.h"
#include "nlohmann/json.hpp"
#include "tools/keygate/commands.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

// How often --follow reads again when nothing new arrived.
constexpr auto kFollowInterval = std::chrono::milliseconds(500);

struct TailArgs {
  // Print events after this position if after_given, else after the
  // acknowledged one.
  uint64_t after = 0;
  bool after_given = false;
  size_t limit = 100;
  bool follow = false;
  bool ack = false;
};

// EventLine is one event as a single-line JSON object.
std::string EventLine(const Event& event) {
  nlohmann::ordered_json out;
  out["position"] = event.position;
  out["id"] = event.id;
  out["type"] = std::string(EventTypeName(event.type));
  out["organization"] = event.organization;
  out["time"] = http::FormatRfc3339(event.time);
  out["actor"] = event.actor;
  if (event.service_account) {
    out["serviceAccount"] = http::ServiceAccountJson(*event.service_account);
  }
  if (event.token) {
    out["serviceAccountSlug"] = event.token->service_account;
    out["token"] = http::TokenMetadataJson(*event.token);
  }
  if (event.webhook_endpoint) {
    // Only the fields the event record keeps (never a secret).
    const WebhookEndpoint& e = *event.webhook_endpoint;
    out["webhookEndpoint"] = {{"id", e.id},
                              {"url", e.url},
                              {"description", e.description},
                              {"disabled", e.disabled},
                              {"updatedAt", http::FormatRfc3339(e.updated_at)},
                              {"updatedBy", e.updated_by}};
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int RunTail(const CommandContext& context, const TailArgs& args) {
  auto body = [&](Store& store) -> int {
    uint64_t after = 0;
    if (args.after_given) {
      after = args.after;
    } else {
      absl::StatusOr<uint64_t> acked = store.AckedEventPosition();
      if (!acked.ok()) return PrintError(acked.status(), context.globals.json);
      after = *acked;
    }
    for (;;) {
      absl::StatusOr<std::vector<Event>> events =
          store.ReadEvents(after, args.limit);
      if (!events.ok()) return PrintError(events.status(), context.globals.json);
      for (const Event& event : *events) {
        std::cout << EventLine(event) << '\n';
      }
      std::cout.flush();
      if (!events->empty()) {
        after = events->back().position;
        // Acknowledged only once printed and flushed.
        if (args.ack) {
          if (absl::Status s = store.AckEvents(after); !s.ok()) {
            return PrintError(s, context.globals.json);
          }
        }
      }
      if (!args.follow) return kExitOk;
      if (events->size() < args.limit) {
        std::this_thread::sleep_for(kFollowInterval);
        // A follower sees the primary's new events only after a catch-up.
        if (absl::Status s = store.CatchUp(); !s.ok()) {
          return PrintError(s, context.globals.json);
        }
      }
    }
  };
  // Acknowledging writes; reading alone works beside a running server.
  return args.ack ? WithStore(context, body)
                  : WithReadOnlyStore(context, body);
}

}  // namespace

void AddEventsCommands(CLI::App& app, CommandContext& context) {
  CLI::App* events = app.add_subcommand(
      "events", "Read the store's event outbox (all organizations)");
  events->require_subcommand(1);
  auto args = std::make_shared<TailArgs>();
  CLI::App* tail = events->add_subcommand(
      "tail",
      "Print events in position order, one JSON object per line (never a "
      "token value)");
  CLI::Option* after = tail->add_option("--after", args->after,
                   "Print events after this position (default: the "
                   "acknowledged position)")
      ->type_name("POS");
  tail->add_option("--limit", args->limit,
                   "Events per read (1-10000, default 100)")
      ->type_name("N")
      ->check(CLI::Range(1, 10000));
  tail->add_flag("--follow", args->follow,
                 "Keep reading new events until interrupted");
  tail->add_flag("--ack", args->ack,
                 "Acknowledge each batch once printed (needs the store: not "
                 "beside a running server)");
  tail->callback([&context, args, after] {
    args->after_given = after->count() > 0;
    context.exit_code = RunTail(context, *args);
  });
}

}  // namespace keygate::tool
