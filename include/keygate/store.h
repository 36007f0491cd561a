// keygate/store.h: the keygate store, the library's entry point.
#ifndef KEYGATE_STORE_H_
#define KEYGATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/event.h"
#include "keygate/options.h"
#include "keygate/page.h"
#include "keygate/principal.h"
#include "keygate/service_account.h"
#include "keygate/token.h"
#include "keygate/webhook.h"
#include "keygate/webhook_delivery.h"

namespace keygate {

// kMaxRotationGrace is the longest grace Store::RotateToken accepts: a
// grace is for rolling the successor out; a longer overlap is a second
// token, and should be created as one.
inline constexpr absl::Duration kMaxRotationGrace = absl::Hours(24 * 30);

// PurgeResult reports what Store::PurgeRetired deleted.
struct PurgeResult {
  uint64_t tokens_purged = 0;
};

// Store manages service accounts and their API tokens in an embedded RocksDB
// store, and verifies tokens from memory.
//
// Every management call takes the caller's organization (an opaque id the
// host derives from its caller's authenticated identity, 1-256 bytes of valid
// UTF-8 without control characters) and an actor (who is acting, same rules)
// and only ever sees that organization's resources: another organization's
// resources are reported exactly like absent ones.
//
// Writes are atomic (one RocksDB write batch each), durable when they return
// (unless Options::sync_writes is false), and visible to every later Verify.
// Bad input returns InvalidArgument and changes nothing. See keygate/errors.h
// for the meaning of each status code.
//
// A Store is safe for concurrent use without external synchronization.
// Verify never touches disk.
class Store {
 public:
  // Open opens (or creates) the store at options.path; with Options::role
  // kFollower, opens it read-only beside the process that holds it (never
  // creates it; NotFound if absent). Fails with
  // InvalidArgument for bad options, FailedPrecondition if another process
  // (or another Store in this process) holds the store (IsStoreInUse, in
  // keygate/errors.h, tells this case apart), or if the keyring
  // lacks a pepper the store uses or a pepper differs from the one the store
  // recorded for its id.
  static absl::StatusOr<std::unique_ptr<Store>> Open(Options options);

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // The destructor closes the store if Close was not called.
  virtual ~Store() = default;

  // CatchUp makes a follower (Options::role kFollower) apply every change
  // the primary has made durable so far: when it returns OK, Verify, Get and
  // List answer as the primary did when the catch-up began, or later. A
  // follower that fell behind the primary's trimmed change log, or meets a
  // change record it cannot decode, rebuilds from a full scan. On a primary, OK at once (it is always current).
  // FailedPrecondition once closed; a storage error leaves the follower at
  // its earlier, consistent state. Thread-safe.
  virtual absl::Status CatchUp() = 0;

  // Close flushes and closes the store. Every later call fails with
  // FailedPrecondition. Idempotent.
  virtual absl::Status Close() = 0;

  // token_prefix returns Options::token_prefix: the prefix of every token
  // this store creates (e.g. "kg_"), for hosts that recognize or redact
  // tokens. The view lives as long as the store; valid after Close too.
  virtual std::string_view token_prefix() const = 0;

  // ----- Service accounts -----

  // CreateServiceAccount creates an account. AlreadyExists if the slug is
  // taken in the organization.
  virtual absl::StatusOr<ServiceAccount> CreateServiceAccount(
      std::string_view organization, const ServiceAccountSpec& spec,
      std::string_view actor) = 0;

  // GetServiceAccount returns the account, or NotFound.
  virtual absl::StatusOr<ServiceAccount> GetServiceAccount(
      std::string_view organization, std::string_view slug) = 0;

  // ListServiceAccounts lists the organization's accounts ordered by slug.
  virtual absl::StatusOr<Page<ServiceAccount>> ListServiceAccounts(
      std::string_view organization, const PageRequest& page) = 0;

  // UpdateServiceAccount applies `patch` (a new name, disabled or enabled,
  // or both) in one atomic write and returns the account as stored. A bad
  // patch is InvalidArgument naming each bad field, and changes nothing;
  // NotFound if the account is absent. Disabling takes effect for every
  // token of the account (Verify refuses them) when this returns; enabling
  // makes them verify again. An empty patch writes nothing and returns the
  // account unchanged (updated_at/updated_by included); any other patch sets
  // updated_at/updated_by, even if the values it sets are the current ones.
  virtual absl::StatusOr<ServiceAccount> UpdateServiceAccount(
      std::string_view organization, std::string_view slug,
      const ServiceAccountPatch& patch, std::string_view actor) = 0;

  // RenameServiceAccount changes the account's display name: the same as
  // UpdateServiceAccount with only `name` set.
  virtual absl::StatusOr<ServiceAccount> RenameServiceAccount(
      std::string_view organization, std::string_view slug,
      std::string_view new_name, std::string_view actor) = 0;

  // SetServiceAccountDisabled disables (every token of the account fails
  // Verify from the moment this returns) or re-enables the account: the same
  // as UpdateServiceAccount with only `disabled` set.
  virtual absl::StatusOr<ServiceAccount> SetServiceAccountDisabled(
      std::string_view organization, std::string_view slug, bool disabled,
      std::string_view actor) = 0;

  // DeleteServiceAccount deletes the account and all its tokens, which stop
  // verifying when this returns. NotFound if absent.
  virtual absl::Status DeleteServiceAccount(std::string_view organization,
                                            std::string_view slug,
                                            std::string_view actor) = 0;

  // ----- Tokens -----

  // CreateToken creates a token for the account and returns its metadata and
  // its plaintext value; the value is never stored and cannot be retrieved
  // again. NotFound if the account does not exist, AlreadyExists on a slug or
  // active-name conflict, ResourceExhausted if the quota is reached.
  virtual absl::StatusOr<CreatedToken> CreateToken(
      std::string_view organization, std::string_view service_account,
      const TokenSpec& spec, std::string_view actor) = 0;

  // ListTokens lists the account's tokens (metadata only; revoked ones until
  // purged), newest first. A token rotated out and past its grace is listed
  // as revoked at its grace end by kRevokedByRotation (keygate/token.h).
  virtual absl::StatusOr<Page<TokenMetadata>> ListTokens(
      std::string_view organization, std::string_view service_account,
      const PageRequest& page) = 0;

  // RevokeToken revokes the token: when this returns the revocation is
  // durable and every Verify that starts afterwards refuses the token.
  // NotFound if the token is unknown, already revoked, or belongs to another
  // organization, all indistinguishable. A token rotated out (RotateToken)
  // can be revoked during its grace, which ends the grace at once; past its
  // grace it counts as revoked (NotFound). With Options::record_events it
  // records token.revoked, then token.leaked when `actor` is kRevokedByLeak.
  virtual absl::Status RevokeToken(std::string_view organization,
                                   std::string_view service_account,
                                   std::string_view token_slug,
                                   std::string_view actor) = 0;

  // RotateToken replaces a token: in one atomic, durable write it creates a
  // successor with the old token's name and scopes and a fresh slug (its
  // value is returned, shown once, as by CreateToken), and puts the old
  // token in its grace: it keeps verifying until now + `grace` (or its own
  // expiry, if earlier) and then fails as revoked (VerifyFailure::kRevoked;
  // the outside sees the usual 401); ListTokens then reports it revoked at
  // its grace end by kRevokedByRotation. A grace of zero ends it at once.
  // The old token keeps its slug but no longer holds its name, so the
  // successor holds it; the two are linked (TokenMetadata::rotated_to /
  // rotated_from).
  //
  // Decisions (docs/rotation.md):
  //  - the successor's expiry is the old token's lifetime from now
  //    (expires_at - created_at, from the rotation): rotation is how a
  //    credential is renewed before it expires, so keeping the old absolute
  //    expiry would make the successor die with the token it replaces. A
  //    token without expiry gives one without expiry.
  //  - quota: the rotation is allowed while the organization holds at most
  //    Options::max_active_tokens_per_organization active tokens (the old
  //    one is being replaced, not added to), but the old token counts until
  //    its grace ends; so an overlap takes an organization at most one token
  //    over its quota, and further creates and rotations are refused
  //    (ResourceExhausted) until a grace ends or a token is revoked.
  //  - a token already rotated (in its grace or past it), revoked, or
  //    unknown, or another organization's, is NotFound, like RevokeToken;
  //    only the live credential of a name can be rotated. A token in its
  //    grace can still be revoked (RevokeToken), which ends its grace at
  //    once.
  //  - an expired token is FailedPrecondition: create a new one instead.
  //  - a disabled account is FailedPrecondition, as for CreateToken.
  // `grace` must be in [0, kMaxRotationGrace] (InvalidArgument naming field
  // "gracePeriod"). `authorize` is called once, under the store's writer
  // lock, with the successor as it would be created (name, slug, scopes,
  // expiry); a non-OK status is returned as is and nothing is written (hosts
  // apply their delegation rules here, see keygate/delegation.h). It must
  // not call the store.
  virtual absl::StatusOr<CreatedToken> RotateToken(
      std::string_view organization, std::string_view service_account,
      std::string_view token_slug, absl::Duration grace,
      std::string_view actor,
      absl::FunctionRef<absl::Status(const TokenSpec& successor)>
          authorize) = 0;
  // RotateToken without an authorize check (the host's own identity).
  absl::StatusOr<CreatedToken> RotateToken(std::string_view organization,
                                           std::string_view service_account,
                                           std::string_view token_slug,
                                           absl::Duration grace,
                                           std::string_view actor) {
    return RotateToken(organization, service_account, token_slug, grace,
                       actor,
                       [](const TokenSpec&) { return absl::OkStatus(); });
  }

  // Verify checks a presented token string and, if `required_scope` is not
  // empty, that the token grants it. On success returns the Principal. On
  // failure returns Unauthenticated "invalid token" (identical for every
  // reason; VerifyFailureOf tells the reason) or PermissionDenied for a
  // missing scope. A token is expired from its expiry instant on: at
  // now == expires_at it fails (TokenMetadata::active: expires_at > now).
  // A malformed `required_scope` is InvalidArgument. Never
  // touches disk; malformed tokens are rejected by their checksum before any
  // hashing or lookup.
  virtual absl::StatusOr<Principal> Verify(
      std::string_view token, std::string_view required_scope = {}) const = 0;

  // PurgeRetired deletes tokens revoked, expired or past their rotation
  // grace strictly longer ago than
  // Options::retention: one retired at `now - retention` exactly is kept,
  // one retired earlier is deleted (times at stored, microsecond
  // precision). Returns how many it deleted; on failure deletes nothing.
  // Active tokens are never purged.
  virtual absl::StatusOr<PurgeResult> PurgeRetired() = 0;

  // ----- Event outbox (keygate/event.h, Options::record_events) -----
  //
  // The outbox is the host's, not a tenant's: these calls take no
  // organization and see the events of ALL organizations (each event names
  // its own). Never expose them to a tenant as they are.
  //
  // Which writes record which events: CreateServiceAccount ->
  // service_account.created; UpdateServiceAccount -> service_account.updated
  // when the name changes, then service_account.disabled / .enabled when
  // the disabled flag changes (a patch doing both records both; a patch
  // changing nothing records nothing); DeleteServiceAccount ->
  // service_account.deleted only (its tokens go with it: no token event
  // each); CreateToken -> token.created; RevokeToken -> token.revoked;
  // RotateToken -> token.rotated (the old token, rotated_to and
  // grace_ends_at set; a zero grace records no token.revoked: the old token
  // is not revoked, its grace ended) then token.created (the successor,
  // rotated_from set); PurgeRetired -> one token.purged per deleted token,
  // in the batch that deletes it. Webhook endpoint changes record nothing,
  // except the delivery circuit disabling an endpoint
  // (RecordWebhookDelivery -> webhook_endpoint.disabled).

  // ReadEvents returns up to `max_count` (at most 10000; larger counts as
  // 10000) events with a position greater than `after_position`, in
  // position order. Events already acknowledged or past
  // Options::event_retention may be gone (deleted at a later write): a
  // consumer reads from its own cursor, or AckedEventPosition. Empty when
  // there is nothing newer. Works on a follower (reads storage as of its
  // last catch-up). DataLoss for a corrupt record.
  virtual absl::StatusOr<std::vector<Event>> ReadEvents(
      uint64_t after_position, size_t max_count) = 0;

  // AckEvents durably records that every event up to and including
  // `through_position` was consumed, so they may be deleted (a bounded
  // number now, the rest by later writes). Idempotent; never moves the
  // acknowledged position back; a position past the newest recorded event
  // acknowledges up to the newest only (never an event not yet recorded).
  // FailedPrecondition on a follower or once closed.
  virtual absl::Status AckEvents(uint64_t through_position) = 0;

  // AckedEventPosition returns the acknowledged position (0 if none): where
  // a consumer with no cursor of its own resumes.
  virtual absl::StatusOr<uint64_t> AckedEventPosition() = 0;

  // EmitDueEvents is the scheduler of the time-driven events; the host calls
  // it periodically (say every minute). It records token.expired for every
  // token whose expires_at passed since the previous call, and
  // token.expiring for every warning instant (expires_at minus each of
  // Options::token_expiring_leads) that passed since then while the token
  // was still unexpired; a token revoked, or past its rotation grace, at or
  // before the instant gets none (token.revoked / token.rotated said so).
  // Each instant fires exactly once, across restarts: the time covered is
  // stored in the same batch as its events. The first call ever covers
  // nothing before it (no burst for tokens that expired long ago). Actor:
  // kExpiryEventActor. Returns how many events it recorded (0 and nothing
  // written with Options::record_events off). Cost: one scan of every
  // token. FailedPrecondition on a follower or once closed.
  virtual absl::StatusOr<size_t> EmitDueEvents() = 0;

  // ----- Webhook endpoints (keygate/webhook.h) -----
  //
  // Endpoints belong to an organization like everything else. Their
  // signing secret is stored sealed under a key derived from the keyring's
  // active pepper (never in plaintext, never in an error) and is returned
  // only by create and rotate.

  // CreateWebhookEndpoint validates `spec` (InvalidArgument naming each bad
  // field: "url", "eventNames[i]", "description"; the URL must pass
  // Options::webhook_targets) and stores a new endpoint with a fresh
  // secret. ResourceExhausted past
  // Options::max_webhook_endpoints_per_organization.
  virtual absl::StatusOr<EndpointWithSecret> CreateWebhookEndpoint(
      std::string_view organization, const WebhookEndpointSpec& spec,
      std::string_view actor) = 0;

  // GetWebhookEndpoint returns the endpoint (without its secret), or
  // NotFound (also for another organization's id).
  virtual absl::StatusOr<WebhookEndpoint> GetWebhookEndpoint(
      std::string_view organization, std::string_view id) = 0;

  // ListWebhookEndpoints returns all of the organization's endpoints (at
  // most the per-organization cap), ordered by id, without secrets.
  virtual absl::StatusOr<std::vector<WebhookEndpoint>> ListWebhookEndpoints(
      std::string_view organization) = 0;

  // UpdateWebhookEndpoint applies `patch` atomically (same validation as
  // create) and returns the endpoint as stored; NotFound if absent. An
  // empty patch writes nothing.
  virtual absl::StatusOr<WebhookEndpoint> UpdateWebhookEndpoint(
      std::string_view organization, std::string_view id,
      const WebhookEndpointPatch& patch, std::string_view actor) = 0;

  // DeleteWebhookEndpoint deletes the endpoint and its secret. NotFound if
  // absent.
  virtual absl::Status DeleteWebhookEndpoint(std::string_view organization,
                                             std::string_view id,
                                             std::string_view actor) = 0;

  // RotateWebhookSecret replaces the endpoint's signing secret with a fresh
  // one and returns it (the old one stops being used when this returns).
  // NotFound if absent.
  virtual absl::StatusOr<EndpointWithSecret> RotateWebhookSecret(
      std::string_view organization, std::string_view id,
      std::string_view actor) = 0;

  // WebhookSigningSecret returns the endpoint's current signing secret, for
  // the code that signs deliveries (never for an API response). NotFound if
  // absent; FailedPrecondition if the keyring lacks the pepper it was
  // sealed with; DataLoss if the sealed bytes do not open.
  virtual absl::StatusOr<SecretString> WebhookSigningSecret(
      std::string_view organization, std::string_view id) = 0;

  // ----- Webhook delivery state (keygate/webhook_delivery.h) -----

  // ListAllWebhookEndpoints returns the endpoints of EVERY organization,
  // ordered by (organization, id), without secrets: for the host's delivery
  // engine only (like the outbox, never expose it to a tenant).
  virtual absl::StatusOr<std::vector<WebhookEndpoint>>
  ListAllWebhookEndpoints() = 0;

  // GetWebhookDeliveryState returns the endpoint's delivery state (cursor,
  // failure streak, most recent attempts newest first), or NotFound if the
  // organization has no such endpoint (also for another organization's id).
  // An endpoint created before delivery state existed reads as cursor 0,
  // no attempts.
  virtual absl::StatusOr<WebhookDeliveryState> GetWebhookDeliveryState(
      std::string_view organization, std::string_view id) = 0;

  // RecordWebhookDelivery durably applies `update` to the endpoint's
  // delivery state in one write: the cursor moves forward (never back),
  // the attempt (if any) becomes the newest of the kept attempts, a 2xx
  // attempt resets the failure streak and any other adds one; at
  // update.failure_streak_limit the endpoint is disabled and an event
  // webhook_endpoint.disabled recorded in the same write. Returns the state
  // as written. NotFound if the endpoint is gone (deleted meanwhile);
  // FailedPrecondition on a follower or once closed. Host-only, like the
  // outbox calls.
  virtual absl::StatusOr<WebhookDeliveryState> RecordWebhookDelivery(
      std::string_view organization, std::string_view id,
      const WebhookDeliveryUpdate& update) = 0;
};

}  // namespace keygate

#endif  // KEYGATE_STORE_H_
