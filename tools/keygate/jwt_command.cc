// tools/keygate/jwt_command.cc: `keygate jwt mint`, a development JWT for
// the management routes of `keygate serve`.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sodium.h"
#include "tools/keygate/commands.h"
#include "keygate/http/jwt.h"
#include "tools/keygate/output.h"

namespace keygate::tool {
namespace {

struct JwtArgs {
  std::string org;
  std::string subject;
  std::string secret_file;
  std::string ttl = "1h";
  std::string org_claim = "org";
};

// SecretKey holds the HS256 key read from a file; wiped on destruction.
class SecretKey {
 public:
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

  // Read loads `path` the way `keygate serve` does: its bytes with one
  // trailing "\n" or "\r\n" trimmed.
  absl::Status Read(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"),
                                               &std::fclose);
    if (file == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("cannot read JWT secret file ", path));
    }
    bytes_.resize(http::kMaxJwtKeyBytes + 3);
    size_t read = 0;
    while (read < bytes_.size()) {
      const size_t n =
          std::fread(bytes_.data() + read, 1, bytes_.size() - read, file.get());
      if (n == 0) break;
      read += n;
    }
    if (std::ferror(file.get())) {
      return absl::UnavailableError(
          absl::StrCat("cannot read JWT secret file ", path));
    }
    size_ = read;
    if (size_ > 0 && bytes_[size_ - 1] == '\n') --size_;
    if (size_ > 0 && bytes_[size_ - 1] == '\r' && size_ < read) --size_;
    if (size_ < http::kMinJwtKeyBytes || size_ > http::kMaxJwtKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWT secret file ", path, " must hold ", http::kMinJwtKeyBytes, "-",
          http::kMaxJwtKeyBytes, " bytes (e.g. `head -c 48 /dev/urandom | base64 > ",
          path, "`)"));
    }
    return absl::OkStatus();
  }

  std::string_view view() const { return {bytes_.data(), size_}; }

 private:
  std::vector<char> bytes_;
  size_t size_ = 0;
};

int RunMint(const CommandContext& context, const JwtArgs& args) {
  const bool json_output = context.globals.json;
  SecretKey key;
  if (absl::Status read = key.Read(args.secret_file); !read.ok()) {
    return PrintError(read, json_output);
  }
  absl::StatusOr<absl::Duration> ttl = ParseDurationArg(args.ttl);
  if (!ttl.ok()) return PrintError(ttl.status(), json_output);
  absl::StatusOr<std::string> jwt =
      http::MintJwt(key.view(), args.org_claim, args.org, args.subject, absl::Now(),
              *ttl);
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
                   "newline trimmed; 32-4096 bytes), as given to `keygate "
                   "serve --jwt-secret-file`")
      ->type_name("FILE")
      ->required();
  mint->add_option("--ttl", args->ttl,
                   "Lifetime, e.g. 1h, 30m, 7d (default: 1h)")
      ->type_name("DURATION")
      ->check(DurationValidator());
  mint->add_option("--org-claim", args->org_claim,
                   "Name of the organization claim (default: org)")
      ->type_name("CLAIM");
  mint->callback(
      [&context, args] { context.exit_code = RunMint(context, *args); });
}

}  // namespace keygate::tool
