// tools/keygate/sa_commands.cc: `keygate sa ...`, the service accounts of an
// organization.
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "keygate/page.h"
#include "keygate/service_account.h"
#include "keygate/store.h"
#include "nlohmann/json.hpp"
#include "tools/keygate/commands.h"
#include "lib/http/json_codec.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

using nlohmann::json;

// Arguments of every `sa` subcommand; each uses the fields it needs.
struct SaArgs {
  std::string org;
  std::string slug;
  std::string name;
  std::string actor;
  size_t limit = 100;
  std::string cursor;
};

void PrintAccount(const ServiceAccount& account, bool json_output) {
  if (json_output) {
    std::cout << DumpJson(http::ServiceAccountJson(account)) << std::endl;
    return;
  }
  Table table({"Slug:", account.slug});
  table.AddRow({"Name:", account.name});
  table.AddRow({"Status:", account.disabled ? "disabled" : "enabled"});
  table.AddRow({"Created:", FormatHumanTime(account.created_at) + " by " +
                                account.created_by});
  table.AddRow({"Updated:", FormatHumanTime(account.updated_at) + " by " +
                                account.updated_by});
  table.Print(std::cout);
}

// PrintResult prints `account` or the error; returns the exit code.
int PrintResult(const absl::StatusOr<ServiceAccount>& account,
                bool json_output) {
  if (!account.ok()) return PrintError(account.status(), json_output);
  PrintAccount(*account, json_output);
  return kExitOk;
}

int RunCreate(const CommandContext& context, const SaArgs& args,
              bool has_slug) {
  return WithStore(context, [&](Store& store) {
    ServiceAccountSpec spec;
    spec.name = args.name;
    if (has_slug) spec.slug = args.slug;
    return PrintResult(store.CreateServiceAccount(args.org, spec, args.actor),
                       context.globals.json);
  });
}

int RunList(const CommandContext& context, const SaArgs& args) {
  return WithReadOnlyStore(context, [&](Store& store) {
    PageRequest request;
    request.limit = args.limit;
    request.cursor = args.cursor;
    absl::StatusOr<Page<ServiceAccount>> page =
        store.ListServiceAccounts(args.org, request);
    if (!page.ok()) return PrintError(page.status(), context.globals.json);
    if (context.globals.json) {
      std::cout << DumpJson(PageOutput(page->items, page->next_cursor,
                                       http::ServiceAccountJson))
                << std::endl;
      return kExitOk;
    }
    if (page->items.empty() && request.cursor.empty()) {
      std::cout << "No service accounts in organization "
                << Printable(args.org) << ".\n";
      return kExitOk;
    }
    Table table({"SLUG", "NAME", "STATUS", "CREATED", "CREATED BY"});
    for (const ServiceAccount& account : page->items) {
      table.AddRow({account.slug, account.name,
                    account.disabled ? "disabled" : "enabled",
                    FormatHumanTime(account.created_at), account.created_by});
    }
    table.Print(std::cout);
    if (!page->next_cursor.empty()) {
      std::cout << "More: add --cursor " << Printable(page->next_cursor)
                << '\n';
    }
    return kExitOk;
  });
}

}  // namespace

void AddServiceAccountCommands(CLI::App& app, CommandContext& context) {
  CLI::App* sa = app.add_subcommand(
      "sa", "Manage the service accounts of an organization");
  sa->require_subcommand(1);

  // Each subcommand owns its arguments; the App keeps them alive through
  // the callback.
  {
    auto args = std::make_shared<SaArgs>();
    CLI::App* create =
        sa->add_subcommand("create", "Create a service account");
    AddOrgOption(*create, args->org);
    create->add_option("NAME", args->name, "Display name (1-200 bytes)")
        ->required();
    CLI::Option* slug = create->add_option(
        "--slug", args->slug,
        "Slug, unique in the organization: [a-z0-9-], 2-100 chars, no "
        "leading or trailing '-' (default: from the name plus a random "
        "suffix)");
    slug->type_name("SLUG");
    AddActorOption(*create, args->actor);
    create->callback([&context, args, slug] {
      context.exit_code = RunCreate(context, *args, slug->count() > 0);
    });
  }
  {
    auto args = std::make_shared<SaArgs>();
    CLI::App* list = sa->add_subcommand(
        "list", "List the organization's service accounts, by slug");
    AddOrgOption(*list, args->org);
    AddPageOptions(*list, args->limit, args->cursor);
    list->callback(
        [&context, args] { context.exit_code = RunList(context, *args); });
  }
  {
    auto args = std::make_shared<SaArgs>();
    CLI::App* get = sa->add_subcommand("get", "Show one service account");
    AddOrgOption(*get, args->org);
    get->add_option("SLUG", args->slug, "The account's slug")->required();
    get->callback([&context, args] {
      context.exit_code = WithReadOnlyStore(context, [&](Store& store) {
        return PrintResult(store.GetServiceAccount(args->org, args->slug),
                           context.globals.json);
      });
    });
  }
  {
    auto args = std::make_shared<SaArgs>();
    CLI::App* rename = sa->add_subcommand(
        "rename", "Change a service account's display name");
    AddOrgOption(*rename, args->org);
    rename->add_option("SLUG", args->slug, "The account's slug")->required();
    rename->add_option("NEW_NAME", args->name, "The new display name")
        ->required();
    AddActorOption(*rename, args->actor);
    rename->callback([&context, args] {
      context.exit_code = WithStore(context, [&](Store& store) {
        return PrintResult(store.RenameServiceAccount(args->org, args->slug,
                                                      args->name,
                                                      args->actor),
                           context.globals.json);
      });
    });
  }
  for (const bool disabled : {true, false}) {
    auto args = std::make_shared<SaArgs>();
    CLI::App* command =
        disabled
            ? sa->add_subcommand(
                  "disable",
                  "Disable a service account: all its tokens stop verifying "
                  "at once (until enabled again)")
            : sa->add_subcommand(
                  "enable",
                  "Re-enable a disabled service account; its unrevoked, "
                  "unexpired tokens verify again");
    AddOrgOption(*command, args->org);
    command->add_option("SLUG", args->slug, "The account's slug")->required();
    AddActorOption(*command, args->actor);
    command->callback([&context, args, disabled] {
      context.exit_code = WithStore(context, [&](Store& store) {
        return PrintResult(
            store.SetServiceAccountDisabled(args->org, args->slug, disabled,
                                            args->actor),
            context.globals.json);
      });
    });
  }
  {
    auto args = std::make_shared<SaArgs>();
    CLI::App* del = sa->add_subcommand(
        "delete",
        "Delete a service account and all its tokens, which stop verifying "
        "at once");
    AddOrgOption(*del, args->org);
    del->add_option("SLUG", args->slug, "The account's slug")->required();
    AddActorOption(*del, args->actor);
    del->callback([&context, args] {
      context.exit_code = WithStore(context, [&](Store& store) {
        const absl::Status status =
            store.DeleteServiceAccount(args->org, args->slug, args->actor);
        if (!status.ok()) return PrintError(status, context.globals.json);
        if (context.globals.json) {
          std::cout << DumpJson(json{{"deleted", true},
                                     {"slug", args->slug}})
                    << std::endl;
        } else {
          std::cout << "Deleted service account " << Printable(args->slug)
                    << " and its tokens.\n";
        }
        return kExitOk;
      });
    });
  }
}

}  // namespace keygate::tool
