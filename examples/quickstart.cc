// examples/quickstart.cc: the library example of README.md (kept identical
// to it by tests/quickstart_test.cc). Run it in an empty directory.
#include <iostream>

#include "keygate/keygate.h"

int main() {
  // The pepper (the secret key of the token digest) lives apart from the
  // store. Create it once, mode 0600; `keygate init` does the same.
  if (absl::Status s = keygate::Keyring::CreateFile("quickstart.pepper");
      !s.ok() && !absl::IsAlreadyExists(s)) {
    std::cerr << s << "\n";
    return 1;
  }
  absl::StatusOr<std::shared_ptr<const keygate::Keyring>> keyring =
      keygate::Keyring::Load("quickstart.pepper");
  if (!keyring.ok()) {
    std::cerr << keyring.status() << "\n";
    return 1;
  }

  keygate::Options options;
  options.path = "quickstart-data";
  options.keyring = *keyring;
  options.scope_modules = {"tokens", "billing"};  // what scopes may name
  absl::StatusOr<std::unique_ptr<keygate::Store>> store =
      keygate::Store::Open(options);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";  // e.g. held by another process
    return 1;
  }

  // The organization always comes from your caller's authenticated identity.
  absl::StatusOr<keygate::ServiceAccount> account =
      (*store)->CreateServiceAccount(
          "acme", {.name = "CI bot", .slug = "ci-bot"}, /*actor=*/"alice");
  if (!account.ok()) {
    std::cerr << account.status() << "\n";
    return 1;
  }

  absl::StatusOr<keygate::CreatedToken> created = (*store)->CreateToken(
      "acme", "ci-bot", {.name = "Deploy", .scopes = {"write:billing"}},
      "alice");
  if (!created.ok()) {
    std::cerr << created.status() << "\n";
    return 1;
  }
  // created->value.view() is the token: hand it to the client now, it is
  // never stored and cannot be shown again (its buffer is wiped).

  // On every request: verify the bearer token, optionally with a scope.
  absl::StatusOr<keygate::Principal> principal =
      (*store)->Verify(created->value.view(), "read:billing");
  if (!principal.ok()) {
    std::cerr << principal.status() << "\n";
    return 1;
  }
  std::cout << "verified: " << principal->organization() << "/"
            << principal->service_account() << "/"
            << principal->token_slug() << "\n";

  // Revocation is durable when it returns and seen by the very next Verify.
  if (absl::Status s = (*store)->RevokeToken("acme", "ci-bot",
                                             created->metadata.slug, "alice");
      !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  absl::StatusOr<keygate::Principal> again =
      (*store)->Verify(created->value.view());
  std::cout << "after revoke: " << again.status().message() << "\n";
  if (!absl::IsUnauthenticated(again.status())) return 1;

  if (absl::Status s = (*store)->DeleteServiceAccount("acme", "ci-bot",
                                                      "alice");
      !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  return (*store)->Close().ok() ? 0 : 1;
}
