// tools/keygate/jwt_command.cc: `keygate jwt mint`, a development JWT for
// the management routes of `keygate serve`.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sodium.h"
#include "keygate/http/jwt.h"
#include "keygate/secret_string.h"
#include "tools/keygate/commands.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

struct JwtArgs {
  std::string org;
  std::string subject;
  std::string secret_file;
  std::string ttl = "1h";
  std::string org_claim = "org";
  std::optional<std::string> issuer;    // unset: no `iss`
  std::optional<std::string> audience;  // unset: no `aud`
};

int RunMint(const CommandContext& context, const JwtArgs& args) {
  const bool json_output = context.globals.json;
  // The reader `keygate serve` uses: same trimming, same mode rule.
  absl::StatusOr<SecretString> key = http::ReadJwtSecretFile(args.secret_file);
  if (!key.ok()) return PrintError(key.status(), json_output);
  absl::StatusOr<absl::Duration> ttl = ParseDurationArg(args.ttl);
  if (!ttl.ok()) return PrintError(ttl.status(), json_output);
  http::MintJwtOptions options;
  options.org_claim = args.org_claim;
  options.issuer = args.issuer;
  options.audience = args.audience;
  absl::StatusOr<std::string> jwt = http::MintJwt(
      key->view(), args.org, args.subject, absl::Now(), *ttl, options);
  if (!jwt.ok()) return PrintError(jwt.status(), json_output);
  if (json_output) {
    std::cout << DumpJson(nlohmann::json{{"jwt", *jwt}}) << std::endl;
  } else {
    std::cout << *jwt << std::endl;
  }
  sodium_memzero(jwt->data(), jwt->size());
  return kExitOk;
}

}  // namespace

void AddJwtCommands(CLI::App& app, CommandContext& context) {
  CLI::App* jwt = app.add_subcommand(
      "jwt", "Development JWTs for the management routes of `keygate serve`");
  jwt->require_subcommand(1);

  auto args = std::make_shared<JwtArgs>();
  CLI::App* mint = jwt->add_subcommand(
      "mint",
      "Print an HS256 JWT naming an organization (claim --org-claim) and an "
      "actor (sub), signed with the secret `keygate serve` checks");
  AddOrgOption(*mint, args->org);
  args->subject = DefaultActor();
  mint->add_option("--sub", args->subject,
                   "The actor, the JWT's `sub` (default: $USER or \"cli\")")
      ->type_name("SUBJECT");
  mint->add_option("--jwt-secret-file", args->secret_file,
                   "File holding the HS256 key (its bytes, one trailing "
                   "newline trimmed; 32-4096 bytes; mode 0600 or stricter), "
                   "as given to `keygate serve --jwt-secret-file`")
      ->type_name("FILE")
      ->required();
  mint->add_option("--ttl", args->ttl,
                   "Lifetime, e.g. 1h, 30m (default: 1h); verifiers refuse "
                   "more than their maximum (24h unless configured)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  mint->add_option("--org-claim", args->org_claim,
                   "Name of the organization claim (default: org)")
      ->type_name("CLAIM");
  mint->add_option("--iss", args->issuer,
                   "The issuer, the JWT's `iss` (default: none)")
      ->type_name("ISSUER");
  mint->add_option("--aud", args->audience,
                   "The audience, the JWT's `aud` (default: none; a verifier "
                   "configured without an audience refuses a JWT that has one)")
      ->type_name("AUDIENCE");
  mint->callback(
      [&context, args] { context.exit_code = RunMint(context, *args); });
}

}  // namespace keygate::tool
