// tools/keygate/token_commands.cc: `keygate token ...`: create, list,
// revoke and rotate a service account's API tokens, and verify a token.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "keygate/errors.h"
#include "keygate/page.h"
#include "keygate/store.h"
#include "keygate/token.h"
#include "nlohmann/json.hpp"
#include "sodium.h"
#include "tools/keygate/commands.h"
#include "lib/http/json_codec.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

using nlohmann::json;

// Most bytes `token verify -` reads from stdin; anything longer is not a
// token.
constexpr size_t kMaxStdinToken = size_t{1} << 20;

struct TokenArgs {
  std::string org;
  std::string account;
  std::string name;
  std::string slug;
  std::vector<std::string> scopes;
  std::string expires_in;
  std::string actor;
  size_t limit = 100;
  std::string cursor;
  std::string token;
  std::string scope;
  std::string grace;
};

std::string ScopesText(const std::vector<std::string>& scopes) {
  return absl::StrJoin(scopes, ",");
}

std::string TokenStatus(const TokenMetadata& token, absl::Time now) {
  if (token.revoked()) return "revoked";
  if (token.rotated_out()) {
    if (!token.active(now)) return "revoked";
    return "grace (rotated to " + token.rotated_to + ")";
  }
  if (!token.active(now)) return "expired";
  return "active";
}

// WriteJsonString writes `text` as a JSON string literal straight to `out`,
// so a secret is not copied into a temporary std::string.
void WriteJsonString(std::ostream& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out << '"';
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out << '\\' << c;
    } else if (u < 0x20) {
      out << "\\u00" << kHex[u >> 4] << kHex[u & 0xF];
    } else {
      out << c;
    }
  }
  out << '"';
}

void PrintCreated(const CreatedToken& created, bool json_output) {
  const TokenMetadata& meta = created.metadata;
  if (json_output) {
    // The metadata object with a "token" member spliced in before its
    // closing brace.
    std::string text = DumpJson(http::TokenMetadataJson(meta));
    while (!text.empty() && (text.back() == '}' || text.back() == '\n')) {
      text.pop_back();
    }
    std::cout << text << ",\n  \"token\": ";
    WriteJsonString(std::cout, created.value.view());
    std::cout << "\n}" << std::endl;
    return;
  }
  std::cout << "Created token " << Printable(meta.slug) << " (\""
            << Printable(meta.name) << "\") for service account "
            << Printable(meta.service_account) << ".\n";
  Table table({"Scopes:", ScopesText(meta.scopes)});
  table.AddRow({"Expires:", meta.expires_at.has_value()
                                ? FormatHumanTime(*meta.expires_at)
                                : "never"});
  table.Print(std::cout);
  std::cout << "Token (shown once): " << created.value.view() << '\n'
            << "Store it now: it cannot be shown again.\n";
  std::cout.flush();
}

int RunCreate(const CommandContext& context, const TokenArgs& args,
              bool has_slug, bool has_expiry) {
  TokenSpec spec;
  spec.name = args.name;
  if (has_slug) spec.slug = args.slug;
  spec.scopes = args.scopes;
  if (has_expiry) {
    absl::StatusOr<absl::Duration> duration = ParseDurationArg(args.expires_in);
    if (!duration.ok()) {  // The parser's validator already checked it.
      return PrintError(
          ValidationError({{"expiresIn", std::string(duration.status().message()),
                            SafeValue(args.expires_in)}}),
          context.globals.json);
    }
    spec.expires_at = absl::Now() + *duration;
  }
  return WithStore(context, [&](Store& store) {
    absl::StatusOr<CreatedToken> created =
        store.CreateToken(args.org, args.account, spec, args.actor);
    if (!created.ok()) return PrintError(created.status(), context.globals.json);
    PrintCreated(*created, context.globals.json);
    return kExitOk;
  });
}

int RunList(const CommandContext& context, const TokenArgs& args) {
  return WithReadOnlyStore(context, [&](Store& store) {
    PageRequest request;
    request.limit = args.limit;
    request.cursor = args.cursor;
    absl::StatusOr<Page<TokenMetadata>> page =
        store.ListTokens(args.org, args.account, request);
    if (!page.ok()) return PrintError(page.status(), context.globals.json);
    if (context.globals.json) {
      std::cout << DumpJson(PageOutput(page->items, page->next_cursor,
                                       http::TokenMetadataJson))
                << std::endl;
      return kExitOk;
    }
    if (page->items.empty() && request.cursor.empty()) {
      std::cout << "No tokens for service account " << Printable(args.account)
                << ".\n";
      return kExitOk;
    }
    const absl::Time now = absl::Now();
    Table table({"SLUG", "NAME", "SCOPES", "STATUS", "EXPIRES", "CREATED",
                 "CREATED BY"});
    for (const TokenMetadata& token : page->items) {
      table.AddRow({token.slug, token.name, ScopesText(token.scopes),
                    TokenStatus(token, now),
                    token.expires_at.has_value()
                        ? FormatHumanTime(*token.expires_at)
                        : "never",
                    FormatHumanTime(token.created_at), token.created_by});
    }
    table.Print(std::cout);
    if (!page->next_cursor.empty()) {
      std::cout << "More: add --cursor " << Printable(page->next_cursor)
                << '\n';
    }
    return kExitOk;
  });
}

int RunRevoke(const CommandContext& context, const TokenArgs& args) {
  return WithStore(context, [&](Store& store) {
    const absl::Status status =
        store.RevokeToken(args.org, args.account, args.slug, args.actor);
    if (!status.ok()) return PrintError(status, context.globals.json);
    if (context.globals.json) {
      std::cout << DumpJson(json{{"revoked", true},
                                 {"serviceAccount", args.account},
                                 {"slug", args.slug}})
                << std::endl;
    } else {
      std::cout << "Revoked token " << Printable(args.slug)
                << " of service account " << Printable(args.account)
                << ".\n";
    }
    return kExitOk;
  });
}

int RunRotate(const CommandContext& context, const TokenArgs& args) {
  // The HTTP API's grammar for gracePeriod, so both accept the same text.
  absl::StatusOr<absl::Duration> grace =
      http::DecodeRotateRequest(json{{"gracePeriod", args.grace}});
  if (!grace.ok()) {
    return PrintError(
        ValidationError({{"grace",
                          "must be a duration from 0s to 30d, e.g. 0s, 90m, "
                          "24h or 7d",
                          SafeValue(args.grace)}}),
        context.globals.json);
  }
  return WithStore(context, [&](Store& store) {
    absl::StatusOr<CreatedToken> created = store.RotateToken(
        args.org, args.account, args.slug, *grace, args.actor);
    if (!created.ok()) return PrintError(created.status(), context.globals.json);
    if (!context.globals.json) {
      std::cout << "Rotated token " << Printable(args.slug) << ": it "
                << (*grace == absl::ZeroDuration()
                        ? std::string("stopped verifying now")
                        : "keeps verifying for " + absl::FormatDuration(*grace))
                << ".\n";
    }
    PrintCreated(*created, context.globals.json);
    return kExitOk;
  });
}

// WipedBuffer is scratch memory for a secret, wiped on destruction.
class WipedBuffer {
 public:
  explicit WipedBuffer(size_t size) : bytes_(size) {}
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;
  ~WipedBuffer() { sodium_memzero(bytes_.data(), bytes_.size()); }
  char* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<char> bytes_;
};

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() &&
         absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() &&
         absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// VerifyFailed prints the one answer every verification failure gets.
int VerifyFailed(const absl::Status& status, std::string_view scope,
                 bool json_output) {
  if (absl::IsPermissionDenied(status)) {
    return PrintError(
        absl::PermissionDeniedError("insufficient scope: the token does not "
                                    "grant " +
                                    Printable(scope)),
        json_output);
  }
  if (absl::IsUnauthenticated(status)) {
    return PrintError(absl::UnauthenticatedError("invalid token"),
                      json_output);
  }
  return PrintError(status, json_output);  // e.g. a malformed --scope
}

int RunVerify(const CommandContext& context, const TokenArgs& args) {
  const bool json_output = context.globals.json;
  WipedBuffer buffer(args.token == "-" ? kMaxStdinToken + 1 : 0);
  std::string_view token = args.token;
  if (args.token == "-") {
    size_t read = 0;
    while (read < buffer.size()) {
      const size_t n =
          std::fread(buffer.data() + read, 1, buffer.size() - read, stdin);
      if (n == 0) break;
      read += n;
    }
    if (std::ferror(stdin)) {
      return PrintError(absl::UnavailableError("cannot read the token from "
                                               "stdin"),
                        json_output);
    }
    if (read > kMaxStdinToken) {
      return VerifyFailed(absl::UnauthenticatedError("invalid token"), {},
                          json_output);
    }
    token = TrimWhitespace(std::string_view(buffer.data(), read));
  }
  return WithReadOnlyStore(context, [&](Store& store) {
    absl::StatusOr<Principal> principal = store.Verify(token, args.scope);
    if (!principal.ok()) {
      return VerifyFailed(principal.status(), args.scope, json_output);
    }
    if (json_output) {
      std::cout << DumpJson(http::WhoamiJson(*principal)) << std::endl;
      return kExitOk;
    }
    std::cout << "Valid token.\n";
    Table table({"Organization:", std::string(principal->organization())});
    table.AddRow({"Service account:",
                  std::string(principal->service_account())});
    table.AddRow({"Token:", std::string(principal->token_slug())});
    table.AddRow({"Scopes:", ScopesText(principal->scopes())});
    table.AddRow({"Expires:", principal->expires_at().has_value()
                                  ? FormatHumanTime(*principal->expires_at())
                                  : "never"});
    table.Print(std::cout);
    return kExitOk;
  });
}

}  // namespace

void AddTokenCommands(CLI::App& app, CommandContext& context) {
  CLI::App* token = app.add_subcommand(
      "token", "Manage a service account's API tokens, and verify tokens");
  token->require_subcommand(1);

  {
    auto args = std::make_shared<TokenArgs>();
    CLI::App* create = token->add_subcommand(
        "create",
        "Create a token; its value is printed once and cannot be retrieved "
        "again");
    AddOrgOption(*create, args->org);
    create->add_option("SA", args->account, "The service account's slug")
        ->required();
    create->add_option("NAME", args->name,
                       "Display name, unique among the account's active "
                       "tokens")
        ->required();
    CLI::Option* slug = create->add_option(
        "--slug", args->slug,
        "Slug, unique per account: [a-z0-9-], 2-100 chars (default: from "
        "the name)");
    slug->type_name("SLUG");
    create
        ->add_option("--scope", args->scopes,
                     "Scope granted (repeatable or comma-separated): "
                     "read|write|delete:<module>, read:* or write:*; write "
                     "implies read. Modules: service_accounts, tokens and "
                     "any --scope-module")
        ->type_name("SCOPE")
        ->delimiter(',');
    CLI::Option* expires = create->add_option(
        "--expires-in", args->expires_in,
        "Lifetime, e.g. 30d, 720h, 90m, 1h30m (default: never expires)");
    expires->type_name("DURATION")->check(DurationValidator());
    AddActorOption(*create, args->actor);
    create->callback([&context, args, slug, expires] {
      context.exit_code = RunCreate(context, *args, slug->count() > 0,
                                    expires->count() > 0);
    });
  }
  {
    auto args = std::make_shared<TokenArgs>();
    CLI::App* list = token->add_subcommand(
        "list",
        "List an account's tokens, newest first (metadata only, never the "
        "value; revoked ones until purged)");
    AddOrgOption(*list, args->org);
    list->add_option("SA", args->account, "The service account's slug")
        ->required();
    AddPageOptions(*list, args->limit, args->cursor);
    list->callback(
        [&context, args] { context.exit_code = RunList(context, *args); });
  }
  {
    auto args = std::make_shared<TokenArgs>();
    CLI::App* revoke = token->add_subcommand(
        "revoke",
        "Revoke a token; it fails verification from the moment this returns");
    AddOrgOption(*revoke, args->org);
    revoke->add_option("SA", args->account, "The service account's slug")
        ->required();
    revoke->add_option("TOKEN_SLUG", args->slug, "The token's slug")
        ->required();
    AddActorOption(*revoke, args->actor);
    revoke->callback(
        [&context, args] { context.exit_code = RunRevoke(context, *args); });
  }
  {
    auto args = std::make_shared<TokenArgs>();
    CLI::App* rotate = token->add_subcommand(
        "rotate",
        "Replace a token: a successor with the same name and scopes (its "
        "value printed once; it keeps the old token's lifetime, from now), "
        "while the old token keeps verifying for --grace, then counts as "
        "revoked");
    AddOrgOption(*rotate, args->org);
    rotate->add_option("SA", args->account, "The service account's slug")
        ->required();
    rotate->add_option("TOKEN_SLUG", args->slug, "The token's slug")
        ->required();
    rotate
        ->add_option("--grace", args->grace,
                     "How long the old token keeps verifying: 0s (stops "
                     "now) to 30d, e.g. 90m, 24h, 7d")
        ->type_name("DURATION")
        ->required();
    AddActorOption(*rotate, args->actor);
    rotate->callback(
        [&context, args] { context.exit_code = RunRotate(context, *args); });
  }
  {
    auto args = std::make_shared<TokenArgs>();
    CLI::App* verify = token->add_subcommand(
        "verify",
        "Verify a token: exit 0 and print who it speaks for, or exit 1 with "
        "\"invalid token\" (or \"insufficient scope\")");
    verify
        ->add_option("TOKEN", args->token,
                     "The token, or - to read it from stdin (keeps it out "
                     "of shell history and ps)")
        ->required();
    verify
        ->add_option("--scope", args->scope,
                     "Also require this scope, e.g. read:tokens")
        ->type_name("SCOPE");
    verify->callback([&context, args] {
      context.exit_code = RunVerify(context, *args);
      sodium_memzero(args->token.data(), args->token.size());
    });
  }
}

}  // namespace keygate::tool
