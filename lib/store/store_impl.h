// lib/store/store_impl.h: the Store implementation: validation, tenancy and
// lifecycle over the storage schema, keeping the verify index exact.
#ifndef KEYGATE_LIB_STORE_STORE_IMPL_H_
#define KEYGATE_LIB_STORE_STORE_IMPL_H_

#include <atomic>
#include <functional>
#include <vector>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "keygate/store.h"
#include "lib/crypto/token_digester.h"
#include "lib/index/verify_index.h"
#include "lib/scope/scope.h"
#include "lib/storage/database.h"
#include "lib/storage/records.h"
#include "lib/token/codec.h"

namespace keygate::store {

class StoreImpl final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(Options options);
  ~StoreImpl() override;

  absl::Status Close() override ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  absl::StatusOr<ServiceAccount> CreateServiceAccount(
      std::string_view organization, const ServiceAccountSpec& spec,
      std::string_view actor) override;
  absl::StatusOr<ServiceAccount> GetServiceAccount(
      std::string_view organization, std::string_view slug) override;
  absl::StatusOr<Page<ServiceAccount>> ListServiceAccounts(
      std::string_view organization, const PageRequest& page) override;
  absl::StatusOr<ServiceAccount> RenameServiceAccount(
      std::string_view organization, std::string_view slug,
      std::string_view new_name, std::string_view actor) override;
  absl::StatusOr<ServiceAccount> SetServiceAccountDisabled(
      std::string_view organization, std::string_view slug, bool disabled,
      std::string_view actor) override;
  absl::Status DeleteServiceAccount(std::string_view organization,
                                    std::string_view slug,
                                    std::string_view actor) override;

  absl::StatusOr<CreatedToken> CreateToken(std::string_view organization,
                                           std::string_view service_account,
                                           const TokenSpec& spec,
                                           std::string_view actor) override;
  absl::StatusOr<Page<TokenMetadata>> ListTokens(
      std::string_view organization, std::string_view service_account,
      const PageRequest& page) override;
  absl::Status RevokeToken(std::string_view organization,
                           std::string_view service_account,
                           std::string_view token_slug,
                           std::string_view actor) override;
  absl::StatusOr<Principal> Verify(
      std::string_view token, std::string_view required_scope) const override;
  absl::StatusOr<PurgeResult> PurgeRetired() override;

 private:
  StoreImpl(Options options, std::unique_ptr<storage::Database> db,
            std::unique_ptr<crypto::TokenDigester> digester,
            std::shared_ptr<const scope::ScopeCatalog> catalog);

  // Load checks the pepper fingerprints and fills the index from storage.
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Now is the clock's time at the precision storage keeps (microseconds),
  // so what a call returns equals what a later read returns.
  absl::Time Now() const;
  absl::Status Commit(storage::Batch& batch)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // ReadAccount returns the stored account, or NotFound.
  absl::StatusOr<ServiceAccount> ReadAccount(std::string_view organization,
                                             std::string_view slug) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  absl::StatusOr<std::optional<storage::StoredToken>> ReadToken(
      std::string_view organization, std::string_view account,
      std::string_view slug) const ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  // UpdateAccount applies `mutate` to a stored account and writes it back.
  absl::StatusOr<ServiceAccount> UpdateAccount(
      std::string_view organization, std::string_view slug,
      std::string_view actor, const std::function<void(ServiceAccount&)>& mutate)
      ABSL_LOCKS_EXCLUDED(write_mu_, db_mu_);

  // CountActiveTokens counts the organization's active tokens.
  absl::StatusOr<uint64_t> CountActiveTokens(std::string_view organization,
                                             absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  // DeleteTokens adds to `batch` the deletion of every record of each token
  // under `prefix` (tokens CF) that `select` picks, and collects their
  // digests for the index.
  absl::Status DeleteTokens(
      std::string_view prefix,
      const std::function<bool(const TokenMetadata&)>& select,
      storage::Batch& batch, std::vector<crypto::Digest>& digests) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  std::shared_ptr<index::AccountState> AccountStateFor(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  index::GrantPtr MakeGrant(const TokenMetadata& metadata,
                            std::shared_ptr<index::AccountState> account) const;

  absl::Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  const Options options_;
  const Clock* const clock_;
  const token::TokenCodec codec_;
  const std::unique_ptr<crypto::TokenDigester> digester_;
  const std::shared_ptr<const scope::ScopeCatalog> catalog_;

  // Lock order: write_mu_ before db_mu_. write_mu_ serializes writers (each
  // reads, checks, then writes); db_mu_ is held shared by every storage
  // access and exclusively by Close.
  mutable absl::Mutex write_mu_;
  mutable absl::Mutex db_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::unique_ptr<storage::Database> db_ ABSL_GUARDED_BY(db_mu_);
  std::atomic<bool> closed_{false};

  // AccountKey -> shared state of that account's grants.
  absl::flat_hash_map<std::string, std::shared_ptr<index::AccountState>>
      accounts_ ABSL_GUARDED_BY(write_mu_);
  index::VerifyIndex index_;
};

}  // namespace keygate::store

#endif  // KEYGATE_LIB_STORE_STORE_IMPL_H_
