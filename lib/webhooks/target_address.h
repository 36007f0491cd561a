// lib/webhooks/target_address.h: which network addresses a webhook may be
// delivered to.
//
// A tenant chooses its webhook URL, and the host's process connects to it:
// without a check, a tenant could aim deliveries at the host's own network
// (loopback admin ports, the cloud metadata service at 169.254.169.254,
// private ranges). This file classifies addresses and host literals; it is
// used twice: when an endpoint is stored (the URL's host, if it is an
// address literal in any of the forms resolvers accept) and again at
// delivery time, for every address a host name resolves to (a name can
// resolve anywhere, and can change between the two checks). All functions
// are pure and thread-safe.
#ifndef KEYGATE_LIB_WEBHOOKS_TARGET_ADDRESS_H_
#define KEYGATE_LIB_WEBHOOKS_TARGET_ADDRESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace keygate::webhooks {

// AddressClass says where an address points. Only kPublic is a permitted
// delivery target by default.
enum class AddressClass {
  kPublic,
  kUnspecified,  // 0.0.0.0/8, ::
  kLoopback,     // 127.0.0.0/8, ::1
  kPrivate,      // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7
  kLinkLocal,    // 169.254/16 (cloud metadata), fe80::/10
  kMulticast,    // 224/4, ff00::/8
  kReserved,     // 240/4 and broadcast, 192.0.0/24, benchmarking 198.18/15,
                 // documentation ranges, 64:ff9b::/96-style translation of a
                 // non-public IPv4, site-local fec0::/10, and the like
};

// Ipv6Bytes is an IPv6 address in network order.
using Ipv6Bytes = std::array<uint8_t, 16>;

// ClassifyIpv4 classifies `address` (host order: 127.0.0.1 is 0x7f000001).
AddressClass ClassifyIpv4(uint32_t address);

// ClassifyIpv6 classifies `address`. IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses are classified by the IPv4 address they carry.
AddressClass ClassifyIpv6(const Ipv6Bytes& address);

// ParseIpv4Literal parses a host as the IPv4 forms inet_aton and browsers
// accept: 1 to 4 dot-separated parts, each decimal, octal (leading 0) or
// hex (0x), the last part filling the remaining bytes ("127.1",
// "0x7f.1", "2130706433", "0177.0.0.1"); one trailing dot allowed. nullopt
// if `host` is not such a literal (a name, or a part out of range).
std::optional<uint32_t> ParseIpv4Literal(std::string_view host);

// ParseIpv6Literal parses an IPv6 address without brackets (zone ids such as
// "%eth0" are refused). nullopt if malformed.
std::optional<Ipv6Bytes> ParseIpv6Literal(std::string_view host);

// AddressClassName returns a short lowercase name ("loopback", ...).
std::string_view AddressClassName(AddressClass c);

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_TARGET_ADDRESS_H_
