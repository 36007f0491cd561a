// lib/webhooks/target_url.cc: parsing a webhook URL and checking it against
// a WebhookTargetPolicy.
#include "lib/webhooks/target_url.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "keygate/errors.h"

namespace keygate::webhooks {
namespace {

// Debian's Abseil has its own string_view: these stay in std.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

absl::Status Bad(std::string_view why) {
  return absl::InvalidArgumentError(std::string(why));
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

bool EndsWithLabel(std::string_view host, std::string_view suffix) {
  return host == suffix.substr(1) || EndsWith(host, suffix);
}

// HostMatches applies the allowed_hosts / denied_hosts entry rule.
bool HostMatches(std::string_view host, std::string entry) {
  entry = Lower(entry);
  if (!entry.empty() && entry.back() == '.') entry.pop_back();
  if (entry.empty()) return false;
  if (entry.front() == '.') {
    return host.size() > entry.size() && EndsWith(host, entry);
  }
  return host == entry;
}

bool IsLocalName(std::string_view host) {
  if (host.find('.') == std::string_view::npos) return true;  // single label
  for (std::string_view suffix :
       {".localhost", ".local", ".internal", ".home.arpa", ".localdomain",
        ".lan", ".intranet", ".corp"}) {
    if (EndsWithLabel(host, suffix)) return true;
  }
  return false;
}

// LastLabelIsNumeric is WHATWG's "ends in a number" rule: such a host is
// an IPv4 literal or invalid, never a name.
bool LastLabelIsNumeric(std::string_view host) {
  size_t dot = host.rfind('.');
  std::string_view last =
      dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return true;
  }
  for (char c : last) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  if (url.empty()) return Bad("must not be empty");
  if (url.size() > kMaxWebhookUrlSize) {
    return Bad("must be at most 2048 bytes");
  }
  for (char c : url) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return Bad(
          "must be printable ASCII without spaces (write international "
          "names in punycode)");
    }
    if (c == '\\') return Bad("must not contain a backslash");
  }
  if (url.find('#') != std::string_view::npos) {
    return Bad("must not have a fragment");
  }
  WebhookUrl out;
  size_t colon = url.find("://");
  if (colon == std::string_view::npos) {
    return Bad("must be an absolute http or https URL");
  }
  std::string scheme = Lower(url.substr(0, colon));
  if (scheme == "https") {
    out.https = true;
    out.port = 443;
  } else if (scheme == "http") {
    out.port = 80;
  } else {
    return Bad("must use the http or https scheme");
  }
  std::string_view rest = url.substr(colon + 3);
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail =
      end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return Bad("must not contain user info (user@host)");
  }
  if (authority.find('%') != std::string_view::npos) {
    return Bad("must not percent-encode the host");
  }
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad("has an unclosed '['");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad("has text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return Bad("has an empty port");
    }
    bracketed = true;
  } else {
    size_t port_colon = authority.find(':');
    host = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      port_text = authority.substr(port_colon + 1);
      if (port_text.empty()) return Bad("has an empty port");
    }
  }
  if (host.empty()) return Bad("must name a host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    bool digits = port_text.size() <= 5;
    for (char c : port_text) digits = digits && c >= '0' && c <= '9';
    if (!digits ||
        !absl::SimpleAtoi(absl::string_view(port_text.data(), port_text.size()),
                          &port) ||
        port < 1 || port > 65535) {
      return Bad("must have a port from 1 to 65535");
    }
    out.port = static_cast<uint16_t>(port);
  }
  if (bracketed) {
    std::optional<Ipv6Bytes> address = ParseIpv6Literal(host);
    if (!address.has_value()) return Bad("has a malformed IPv6 address");
    out.ipv6 = address;
    out.host = Lower(host);
  } else {
    std::string lower = Lower(host);
    for (char c : lower) {
      if (!IsNameChar(c)) {
        return Bad("has a host name with characters other than a-z 0-9 - .");
      }
    }
    out.ipv4 = ParseIpv4Literal(lower);
    // ".." before the one trailing dot goes: "a.com.." is not "a.com.",
    // which a deny-list entry "a.com" would no longer match.
    const bool empty_label = lower.find("..") != std::string::npos;
    if (!lower.empty() && lower.back() == '.') lower.pop_back();
    if (lower.empty() || lower.front() == '.' || empty_label ||
        lower.size() > 253) {
      return Bad("has a malformed host name");
    }
    if (!out.ipv4.has_value() && LastLabelIsNumeric(lower)) {
      return Bad("has a malformed IPv4 address");
    }
    out.host = std::move(lower);
  }
  out.path_and_query = tail.empty() ? std::string("/") : std::string(tail);
  if (!out.path_and_query.empty() && out.path_and_query.front() == '?') {
    out.path_and_query.insert(out.path_and_query.begin(), '/');
  }
  return out;
}

absl::StatusOr<WebhookUrl> CheckWebhookUrl(std::string_view url,
                                           const WebhookTargetPolicy& policy,
                                           std::string_view field) {
  // The URL is never echoed: it may carry a password ("user:pw@host", the
  // very thing refused) or a token in its query, and problems get logged.
  auto refuse = [&](std::string message) {
    return ValidationError({{std::string(field), std::move(message), ""}});
  };
  absl::StatusOr<WebhookUrl> parsed = ParseWebhookUrl(url);
  if (!parsed.ok()) {
    absl::string_view why = parsed.status().message();
    return refuse(std::string(why.data(), why.size()));
  }
  if (!parsed->https && !policy.allow_http) return refuse("must use https");
  for (const std::string& entry : policy.denied_hosts) {
    if (HostMatches(parsed->host, entry)) {
      return refuse("names a host this server refuses");
    }
  }
  if (!policy.allowed_hosts.empty()) {
    bool allowed = false;
    for (const std::string& entry : policy.allowed_hosts) {
      allowed = allowed || HostMatches(parsed->host, entry);
    }
    if (!allowed) return refuse("names a host this server does not allow");
  }
  if (policy.allow_private_targets) return parsed;
  std::optional<AddressClass> address_class;
  if (parsed->ipv4.has_value()) address_class = ClassifyIpv4(*parsed->ipv4);
  if (parsed->ipv6.has_value()) address_class = ClassifyIpv6(*parsed->ipv6);
  if (address_class.has_value()) {
    if (*address_class != AddressClass::kPublic) {
      return refuse(std::string("must not point at a ") +
                    std::string(AddressClassName(*address_class)) +
                    " address");
    }
  } else if (IsLocalName(parsed->host)) {
    return refuse("must not point at a local host name");
  }
  return parsed;
}

}  // namespace keygate::webhooks
