// lib/store/new_token.h: the metadata of a token a store call mints, filled
// the same way whether the call is CreateToken or RotateToken (the
// successor), so the two cannot drift.
#ifndef KEYGATE_LIB_STORE_NEW_TOKEN_H_
#define KEYGATE_LIB_STORE_NEW_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "keygate/token.h"

namespace keygate::store {

// FillNewToken sets the metadata of a token being minted at `now` by
// `actor` in `organization`'s `service_account`: the slug chosen for it,
// `spec`'s name, its scopes sorted and without duplicates, its expiry (if
// any) truncated to stored precision, created at/by. The caller has
// validated `spec` and chosen `slug`. Leaves the pepper id (NewTokenValue),
// the revocation, last-use and rotation fields as they are. Cannot fail;
// touches only `m`.
void FillNewToken(std::string_view organization,
                  std::string_view service_account, std::string slug,
                  const TokenSpec& spec, absl::Time now,
                  std::string_view actor, TokenMetadata& m);

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_NEW_TOKEN_H_
