// tools/keygate/webhook_commands.cc: `keygate webhook ...`, the webhook
// endpoints of an organization.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "keygate/store.h"
#include "keygate/webhook.h"
#include "lib/http/json_codec.h"
#include "nlohmann/json.hpp"
#include "tools/keygate/commands.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

using nlohmann::json;

// Arguments of every `webhook` subcommand; each uses the fields it needs.
struct WebhookArgs {
  std::string org;
  std::string id;
  std::string url;
  std::vector<std::string> events;
  std::string description;
  std::string actor;
};

// PrintWithSecret prints an endpoint with its secret (create, rotate). The
// secret ("whsec_" + base64) needs no JSON escaping; it is written straight
// from its wiped buffer.
void PrintWithSecret(const EndpointWithSecret& created, bool json_output,
                     std::string_view verb) {
  const WebhookEndpoint& e = created.endpoint;
  if (json_output) {
    std::string text = DumpJson(http::WebhookEndpointJson(e));
    while (!text.empty() && (text.back() == '}' || text.back() == '\n')) {
      text.pop_back();
    }
    std::cout << text << ",\n  \"secret\": \"" << created.signing_secret.view()
              << "\"\n}" << std::endl;
    return;
  }
  std::cout << verb << " webhook endpoint " << e.id << " -> "
            << Printable(e.url) << "\n"
            << "Events: " << absl::StrJoin(e.event_names, ", ") << "\n"
            << "Signing secret (shown once): " << created.signing_secret.view()
            << "\nStore it now: it cannot be shown again.\n";
  std::cout.flush();
}

int RunList(const CommandContext& context, const WebhookArgs& args) {
  return WithStore(context, [&](Store& store) {
    absl::StatusOr<std::vector<WebhookEndpoint>> endpoints =
        store.ListWebhookEndpoints(args.org);
    if (!endpoints.ok()) {
      return PrintError(endpoints.status(), context.globals.json);
    }
    if (context.globals.json) {
      nlohmann::ordered_json out;
      out["items"] = nlohmann::ordered_json::array();
      for (const WebhookEndpoint& e : *endpoints) {
        out["items"].push_back(http::WebhookEndpointJson(e));
      }
      std::cout << DumpJson(out) << std::endl;
      return kExitOk;
    }
    if (endpoints->empty()) {
      std::cout << "No webhook endpoints in organization "
                << Printable(args.org) << ".\n";
      return kExitOk;
    }
    Table table({"ID", "URL", "EVENTS", "STATUS", "CREATED"});
    for (const WebhookEndpoint& e : *endpoints) {
      table.AddRow({e.id, Printable(e.url), absl::StrJoin(e.event_names, ","),
                    e.disabled ? "disabled" : "enabled",
                    FormatHumanTime(e.created_at)});
    }
    table.Print(std::cout);
    return kExitOk;
  });
}

}  // namespace

void AddWebhookCommands(CLI::App& app, CommandContext& context) {
  CLI::App* webhook = app.add_subcommand(
      "webhook", "Manage the webhook endpoints of an organization");
  webhook->require_subcommand(1);
  {
    auto args = std::make_shared<WebhookArgs>();
    CLI::App* list = webhook->add_subcommand(
        "list", "List the organization's webhook endpoints (never secrets)");
    AddOrgOption(*list, args->org);
    list->callback(
        [&context, args] { context.exit_code = RunList(context, *args); });
  }
  {
    auto args = std::make_shared<WebhookArgs>();
    CLI::App* create = webhook->add_subcommand(
        "create",
        "Create a webhook endpoint; prints its signing secret once");
    AddOrgOption(*create, args->org);
    create->add_option("URL", args->url,
                       "http(s) URL of a public host (no user info)")
        ->required();
    create
        ->add_option("--event", args->events,
                     "Event name (repeatable or comma-separated), e.g. "
                     "token.created, service_account.deleted")
        ->required()
        ->delimiter(',');
    create->add_option("--description", args->description,
                       "Free text (up to 500 bytes)");
    AddActorOption(*create, args->actor);
    create->callback([&context, args] {
      context.exit_code = WithStore(context, [&](Store& store) {
        WebhookEndpointSpec spec;
        spec.url = args->url;
        spec.event_names = args->events;
        spec.description = args->description;
        absl::StatusOr<EndpointWithSecret> created =
            store.CreateWebhookEndpoint(args->org, spec, args->actor);
        if (!created.ok()) {
          return PrintError(created.status(), context.globals.json);
        }
        PrintWithSecret(*created, context.globals.json, "Created");
        return kExitOk;
      });
    });
  }
  {
    auto args = std::make_shared<WebhookArgs>();
    CLI::App* rotate = webhook->add_subcommand(
        "rotate-secret",
        "Replace an endpoint's signing secret; prints the new one once");
    AddOrgOption(*rotate, args->org);
    rotate->add_option("ID", args->id, "The endpoint id (wh_...)")->required();
    AddActorOption(*rotate, args->actor);
    rotate->callback([&context, args] {
      context.exit_code = WithStore(context, [&](Store& store) {
        absl::StatusOr<EndpointWithSecret> rotated =
            store.RotateWebhookSecret(args->org, args->id, args->actor);
        if (!rotated.ok()) {
          return PrintError(rotated.status(), context.globals.json);
        }
        PrintWithSecret(*rotated, context.globals.json, "Rotated the secret of");
        return kExitOk;
      });
    });
  }
  {
    auto args = std::make_shared<WebhookArgs>();
    CLI::App* del =
        webhook->add_subcommand("delete", "Delete a webhook endpoint");
    AddOrgOption(*del, args->org);
    del->add_option("ID", args->id, "The endpoint id (wh_...)")->required();
    AddActorOption(*del, args->actor);
    del->callback([&context, args] {
      context.exit_code = WithStore(context, [&](Store& store) {
        const absl::Status status =
            store.DeleteWebhookEndpoint(args->org, args->id, args->actor);
        if (!status.ok()) return PrintError(status, context.globals.json);
        if (context.globals.json) {
          std::cout << DumpJson(json{{"deleted", true}, {"id", args->id}})
                    << std::endl;
        } else {
          std::cout << "Deleted webhook endpoint " << Printable(args->id)
                    << ".\n";
        }
        return kExitOk;
      });
    });
  }
}

}  // namespace keygate::tool
