// lib/webhooks/target_address.cc: which network addresses a webhook may be
// delivered to.
#include "lib/webhooks/target_address.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

namespace keygate::webhooks {
namespace {

bool InPrefix(uint32_t address, uint32_t network, int bits) {
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (address & mask) == (network & mask);
}

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

uint32_t Ipv4At(const Ipv6Bytes& a, int offset) {
  return uint32_t{a[offset]} << 24 | uint32_t{a[offset + 1]} << 16 |
         uint32_t{a[offset + 2]} << 8 | uint32_t{a[offset + 3]};
}

// ParsePart reads one inet_aton part: decimal, 0-prefixed octal or 0x hex.
// Bounded to values below 2^32; nullopt on any other character.
std::optional<uint64_t> ParsePart(std::string_view part) {
  if (part.empty()) return std::nullopt;
  int base = 10;
  if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    base = 16;
    part.remove_prefix(2);
    if (part.empty()) return uint64_t{0};  // "0x" is 0, as inet_aton reads it
  } else if (part.size() >= 2 && part[0] == '0') {
    base = 8;
    part.remove_prefix(1);
  }
  uint64_t value = 0;
  for (char c : part) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (digit >= base) return std::nullopt;
    value = value * base + digit;
    if (value > 0xffffffffULL) return std::nullopt;
  }
  return value;
}

}  // namespace

AddressClass ClassifyIpv4(uint32_t a) {
  if (InPrefix(a, Ip(0, 0, 0, 0), 8)) return AddressClass::kUnspecified;
  if (InPrefix(a, Ip(127, 0, 0, 0), 8)) return AddressClass::kLoopback;
  if (InPrefix(a, Ip(10, 0, 0, 0), 8) || InPrefix(a, Ip(172, 16, 0, 0), 12) ||
      InPrefix(a, Ip(192, 168, 0, 0), 16) ||
      InPrefix(a, Ip(100, 64, 0, 0), 10)) {
    return AddressClass::kPrivate;
  }
  if (InPrefix(a, Ip(169, 254, 0, 0), 16)) return AddressClass::kLinkLocal;
  if (InPrefix(a, Ip(224, 0, 0, 0), 4)) return AddressClass::kMulticast;
  if (InPrefix(a, Ip(240, 0, 0, 0), 4) ||       // reserved, broadcast
      InPrefix(a, Ip(192, 0, 0, 0), 24) ||      // IETF protocol assignments
      InPrefix(a, Ip(192, 0, 2, 0), 24) ||      // TEST-NET-1
      InPrefix(a, Ip(198, 51, 100, 0), 24) ||   // TEST-NET-2
      InPrefix(a, Ip(203, 0, 113, 0), 24) ||    // TEST-NET-3
      InPrefix(a, Ip(198, 18, 0, 0), 15) ||     // benchmarking
      InPrefix(a, Ip(192, 88, 99, 0), 24)) {    // 6to4 relay anycast
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

AddressClass ClassifyIpv6(const Ipv6Bytes& a) {
  bool first10_zero = true;
  for (int i = 0; i < 10; ++i) first10_zero = first10_zero && a[i] == 0;
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): the
  // kernel connects to the IPv4 address.
  if (first10_zero && a[10] == 0xff && a[11] == 0xff) {
    return ClassifyIpv4(Ipv4At(a, 12));
  }
  if (first10_zero && a[10] == 0 && a[11] == 0) {
    uint32_t low = Ipv4At(a, 12);
    if (low == 0) return AddressClass::kUnspecified;
    if (low == 1) return AddressClass::kLoopback;
    return ClassifyIpv4(low);
  }
  // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) {
    bool wkp = true;
    for (int i = 4; i < 12; ++i) wkp = wkp && a[i] == 0;
    if (wkp) {
      AddressClass c = ClassifyIpv4(Ipv4At(a, 12));
      return c == AddressClass::kPublic ? c : AddressClass::kReserved;
    }
    if (a[4] == 0 && a[5] == 1) return AddressClass::kReserved;
  }
  // 6to4 2002:WWXX:YYZZ::/48 carries an IPv4 address.
  if (a[0] == 0x20 && a[1] == 0x02) {
    AddressClass c = ClassifyIpv4(Ipv4At(a, 2));
    return c == AddressClass::kPublic ? c : AddressClass::kReserved;
  }
  if ((a[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;  // fc00::/7
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
    return AddressClass::kLinkLocal;  // fe80::/10
  }
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) {
    return AddressClass::kReserved;  // fec0::/10 site-local (deprecated)
  }
  if (a[0] == 0xff) return AddressClass::kMulticast;
  // 2001:db8::/32 documentation; 100::/64 discard; 2001::/23 IETF protocol
  // assignments (Teredo 2001::/32 included: it tunnels to anywhere).
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) {
    return AddressClass::kReserved;
  }
  if (a[0] == 0x01 && a[1] == 0x00) {
    bool discard = true;
    for (int i = 2; i < 8; ++i) discard = discard && a[i] == 0;
    if (discard) return AddressClass::kReserved;
  }
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) {
    return AddressClass::kReserved;
  }
  // Only global unicast 2000::/3 is public.
  if ((a[0] & 0xe0) != 0x20) return AddressClass::kReserved;
  return AddressClass::kPublic;
}

std::optional<uint32_t> ParseIpv4Literal(std::string_view host) {
  if (host.empty() || host.size() > 64) return std::nullopt;
  if (host.back() == '.') host.remove_suffix(1);
  std::vector<uint64_t> parts;
  while (true) {
    size_t dot = host.find('.');
    std::optional<uint64_t> part = ParsePart(host.substr(0, dot));
    if (!part.has_value()) return std::nullopt;
    parts.push_back(*part);
    if (parts.size() > 4) return std::nullopt;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  uint64_t result = 0;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    result |= parts[i] << (8 * (3 - i));
  }
  uint64_t last = parts.back();
  int last_bytes = 4 - static_cast<int>(parts.size() - 1);
  if (last_bytes < 4 && last >= (uint64_t{1} << (8 * last_bytes))) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(result | last);
}

std::optional<Ipv6Bytes> ParseIpv6Literal(std::string_view host) {
  if (host.empty() || host.size() > 45) return std::nullopt;
  for (char c : host) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    if (!ok) return std::nullopt;  // no zone id, no NUL
  }
  std::string text(host);
  Ipv6Bytes out;
  if (inet_pton(AF_INET6, text.c_str(), out.data()) != 1) return std::nullopt;
  return out;
}

std::string_view AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kReserved:
      return "reserved";
  }
  return "reserved";
}

}  // namespace keygate::webhooks
