// keygate/options.h: options for opening a keygate store.
#ifndef KEYGATE_OPTIONS_H_
#define KEYGATE_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "keygate/clock.h"
#include "keygate/keyring.h"
#include "keygate/webhook.h"

namespace keygate {

// Options controls Store::Open.
struct Options {
  // Directory of the RocksDB store; created if missing (see
  // create_if_missing). Owner-only: Open makes it 0700 and every file in it
  // 0600, whatever the umask (a store left 0755 / 0644 by an older keygate
  // is tightened; symbolic links in it are not followed). Default: none,
  // required.
  std::string path;

  // Peppers of the token digest, loaded from a file that lives apart from the
  // store (Keyring::Load). Open refuses to run without one, and refuses a
  // keyring whose peppers do not match the ones the store was created with.
  // Default: none, required.
  std::shared_ptr<const Keyring> keyring;

  // Prefix of every token string, so secret scanners can find leaked ones:
  // 1-16 chars of [a-z0-9] followed by '_'. Default: "kg_".
  std::string token_prefix = "kg_";

  // Sync the write-ahead log before create/revoke/... return, so an
  // acknowledged write survives a machine crash. Default: true.
  bool sync_writes = true;

  // Create the store directory if it does not exist. Default: true.
  bool create_if_missing = true;

  // Time source for created/revoked/expiry checks. Default: nullptr, meaning
  // SystemClock(). Must outlive the store.
  const Clock* clock = nullptr;

  // Modules a scope may name, e.g. {"tokens", "billing"}. Scopes naming any
  // other module are rejected. The management API's webhook routes need
  // "webhooks". Default: {"service_accounts", "tokens", "webhooks"}.
  std::vector<std::string> scope_modules = {"service_accounts", "tokens",
                                            "webhooks"};

  // How long revoked or expired tokens are kept (for listing and audit)
  // before PurgeRetired deletes them: a token retired exactly `retention`
  // ago is still kept (strict "longer ago than"). Active tokens are never
  // purged.
  // Default: 30 days.
  absl::Duration retention = absl::Hours(24 * 30);

  // How often each token's last-used time (TokenMetadata::last_used_at) is
  // written to the store. Verify keeps the time in memory only (to the
  // second, refreshed at most once per max(1 s, interval / 60) per token);
  // a background thread of the store writes the times that changed, in one
  // batch, every interval, and Close writes the rest. A crash loses at most
  // the last interval of last-used times, never a token or a revocation.
  // Zero or negative: no background thread, written at Close only.
  // Default: 60 seconds.
  absl::Duration last_used_flush_interval = absl::Seconds(60);

  // Maximum active (unrevoked, unexpired) tokens per organization; creating
  // one more fails with ResourceExhausted. Default: 0, meaning no limit.
  uint32_t max_active_tokens_per_organization = 0;

  // Maximum webhook endpoints per organization; creating one more fails
  // with ResourceExhausted. Must be 1 to 1000. Default: 20.
  uint32_t max_webhook_endpoints_per_organization = 20;

  // Which URLs a webhook endpoint may point at (keygate/webhook.h).
  // Default: http and https, any public host; loopback, private,
  // link-local and local names refused.
  WebhookTargetPolicy webhook_targets;
};

}  // namespace keygate

#endif  // KEYGATE_OPTIONS_H_
