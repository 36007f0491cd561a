// lib/webhooks/webhook.cc: the free functions of keygate/webhook.h.
#include "keygate/webhook.h"

namespace keygate {

const std::vector<std::string_view>& WebhookEventNames() {
  static const auto* names = new std::vector<std::string_view>{
      "service_account.created", "service_account.updated",
      "service_account.disabled", "service_account.enabled",
      "service_account.deleted", "token.created",
      "token.rotated",           "token.revoked",
      "token.expired",           "token.purged",
      "token.leaked",            "token.expiring",
      "webhook_endpoint.disabled"};
  return *names;
}

bool IsWebhookEventName(std::string_view name) {
  for (std::string_view known : WebhookEventNames()) {
    if (known == name) return true;
  }
  return false;
}

bool IsValidWebhookId(std::string_view id) {
  if (id.size() != 29 || id.substr(0, 3) != "wh_") return false;
  for (char c : id.substr(3)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
    if (!ok) return false;
  }
  return true;
}

}  // namespace keygate
