// lib/store/open.cc: opening a store: its options, the storage format and
// pepper checks, and loading the verify index from storage.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "keygate/keyring.h"
#include "lib/base/absl_view.h"
#include "lib/crypto/sodium.h"
#include "lib/store/open_on_file_system.h"
#include "lib/store/store_impl.h"

namespace keygate::store {

namespace {

// FleetMemberName labels this process's row in the fleet's member table,
// for operators: "<host>:<pid>" (truncated by FleetLease).
std::string FleetMemberName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host, ":", getpid());
}

absl::Status CheckOptions(const Options& options) {
  std::vector<FieldError> errors;
  if (options.path.empty() && options.postgres_connection.empty()) {
    errors.push_back({"path", "the store path must not be empty", ""});
  }
  if (options.keyring == nullptr) {
    errors.push_back(
        {"keyring",
         "a pepper keyring is required (Keyring::Load); keygate never uses a "
         "built-in key",
         ""});
  }
  if (!token::IsValidPrefix(options.token_prefix)) {
    errors.push_back({"tokenPrefix",
                      "must be 1-16 characters of a-z and 0-9 followed by '_'",
                      SafeValue(options.token_prefix)});
  }
  if (options.scope_modules.empty() ||
      options.scope_modules.size() > scope::kMaxModules) {
    errors.push_back({"scopeModules",
                      absl::StrCat("must name 1 to ", scope::kMaxModules,
                                   " modules"),
                      ""});
  }
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < options.scope_modules.size(); ++i) {
    const std::string& module = options.scope_modules[i];
    if (!scope::IsValidModuleName(module) || !seen.insert(module).second) {
      errors.push_back({absl::StrCat("scopeModules[", i, "]"),
                        "must be a unique name of a-z, 0-9 and '_' starting "
                        "with a letter",
                        SafeValue(module)});
    }
  }
  if (options.max_webhook_endpoints_per_organization < 1 ||
      options.max_webhook_endpoints_per_organization > 1000) {
    errors.push_back({"maxWebhookEndpointsPerOrganization",
                      "must be 1 to 1000", ""});
  }
  if (options.retention < absl::ZeroDuration()) {
    errors.push_back({"retention", "must not be negative", ""});
  }
  if (options.change_log_retention < absl::ZeroDuration()) {
    errors.push_back({"changeLogRetention", "must not be negative", ""});
  }
  if (options.role != StoreRole::kPrimary &&
      options.role != StoreRole::kFollower) {
    errors.push_back({"role", "must be kPrimary or kFollower", ""});
  }
  if (!errors.empty()) return ValidationError(std::move(errors));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> StoreImpl::Open(
    Options options, std::shared_ptr<rocksdb::FileSystem> base_file_system) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<crypto::TokenDigester>> digester =
      crypto::TokenDigester::Create(options.keyring);
  if (!digester.ok()) return digester.status();
  const bool follower = options.role == StoreRole::kFollower;
  std::string owned_follower_directory;
  absl::StatusOr<std::unique_ptr<storage::Tables>> tables;
  postgres::PostgresDatabase* fleet = nullptr;
  if (!options.postgres_connection.empty()) {
    if (follower) {
      return absl::FailedPreconditionError(
          "a follower reads a RocksDB store: on PostgreSQL every process "
          "opens the database as a primary");
    }
    absl::StatusOr<std::unique_ptr<postgres::PostgresDatabase>> database =
        postgres::PostgresDatabase::Open(options.postgres_connection);
    if (!database.ok()) return database.status();
    fleet = database->get();
    tables = storage::Tables::OnDatabase(*std::move(database));
  } else if (follower) {
    std::string directory = options.follower_directory;
    if (directory.empty()) {
      std::error_code ec;
      std::string pattern =
          (std::filesystem::temp_directory_path(ec) / "keygate-follower-XXXXXX")
              .string();
      if (ec || mkdtemp(pattern.data()) == nullptr) {
        return absl::FailedPreconditionError(
            "cannot create a follower directory in the temporary directory");
      }
      directory = owned_follower_directory = pattern;
    }
    tables = storage::Tables::OpenFollower(options.path, directory);
    if (!tables.ok() && !owned_follower_directory.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(owned_follower_directory, ec);
    }
  } else {
    tables = storage::Tables::Open(options.path, options.create_if_missing,
                                   std::move(base_file_system));
  }
  if (!tables.ok()) return tables.status();
  auto catalog =
      std::make_shared<const scope::ScopeCatalog>(options.scope_modules);
  std::unique_ptr<StoreImpl> store(new StoreImpl(
      std::move(options), *std::move(tables), *std::move(digester),
      std::move(catalog), std::move(owned_follower_directory)));
  store->fleet_ = fleet;
  absl::Status load_status;
  {
    absl::MutexLock lock(&store->write_mu_);
    // A fleet loads under the fleet write lock: no process writes while
    // the scans run, so the state and the change position are one view.
    if (fleet != nullptr) load_status = fleet->LockWrites();
    if (load_status.ok()) load_status = store->Load();
    if (fleet != nullptr) fleet->UnlockWrites();
  }
  // Close takes write_mu_ itself: calling it under the lock above would
  // self-deadlock (absl aborts on it).
  if (!load_status.ok()) {
    (void)store->Close();
    return load_status;
  }
  if (fleet != nullptr && store->options_.fleet_lease > absl::ZeroDuration()) {
    // Joined after the load, with its position: the first heartbeat reads
    // the newest position, and the lease is usable once the listener below
    // has applied up to it.
    postgres::FleetLeaseOptions lease_options;
    lease_options.lease = store->options_.fleet_lease;
    lease_options.name = FleetMemberName();
    absl::StatusOr<std::unique_ptr<postgres::FleetLease>> lease =
        postgres::FleetLease::Join(store->options_.postgres_connection,
                                   store->change_position(),
                                   std::move(lease_options));
    if (!lease.ok()) {
      (void)store->Close();
      return lease.status();
    }
    store->lease_ = *std::move(lease);
  }
  if (follower || fleet != nullptr) store->StartCatchUpThread();
  if (!follower) store->StartLastUsedFlusher();
  return std::unique_ptr<Store>(std::move(store));
}

absl::Status StoreImpl::Load() {
  absl::ReaderMutexLock db_lock(&db_mu_);
  storage::Batch batch;

  // Schema version.
  absl::StatusOr<std::optional<std::string>> version =
      tables_->ReadSchemaVersion();
  if (!version.ok()) return version.status();
  if (!version->has_value() && follower_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store at ", options_.path,
        " is not initialized yet: open it as a primary first"));
  }
  if (!version->has_value()) {
    // A new store has no keys at all; anything else is not ours to convert.
    absl::StatusOr<bool> empty = tables_->IsEmpty();
    if (!empty.ok()) return empty.status();
    if (!*empty) {
      return absl::FailedPreconditionError(absl::StrCat(
          fleet_ != nullptr ? "the PostgreSQL database" : options_.path,
          " holds a database that is not a keygate store"));
    }
    tables_->PutSchemaVersion(batch);
  } else if (**version != storage::kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store at ", options_.path, " has schema version ", SafeValue(**version),
        "; this keygate reads version ", AbslView(storage::kSchemaVersion)));
  }

  // Pepper fingerprints: the same id must always mean the same key.
  std::array<bool, Keyring::kMaxPepperId + 1> has_pepper{};
  for (int id : digester_->keyring().ids()) {
    if (id >= 1 && id <= Keyring::kMaxPepperId) has_pepper[id] = true;
    const Digest fingerprint = digester_->Fingerprint(id);
    absl::StatusOr<std::optional<std::string>> stored =
        tables_->ReadPepperFingerprint(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      // A follower cannot record it; no stored token uses that id yet.
      if (!follower_) tables_->PutPepperFingerprint(batch, id, fingerprint);
      continue;
    }
    Digest stored_fingerprint{};
    const bool same_size = (*stored)->size() == stored_fingerprint.size();
    if (same_size) {
      std::copy((*stored)->begin(), (*stored)->end(),
                stored_fingerprint.begin());
    }
    if (!same_size || !crypto::DigestEqual(stored_fingerprint, fingerprint)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pepper ", id, " in the keyring is not the pepper ", id,
          " this store was created with: wrong pepper file?"));
    }
  }

  // Accounts first: a token finds its account's state among them. The
  // visitors run inside the scans, under this function's locks (which the
  // analysis cannot see through the scan).
  absl::Status status = tables_->ScanEveryAccount(
      [&](const ServiceAccount& account) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        PublishAccount(account);
        if (follower_ || fleet_ != nullptr) FollowAccount(account);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;

  // Tokens. Size the in-memory tables for them first: one rehash instead of
  // a doubling series (an estimate; the tables still grow if it is low).
  const size_t estimate = static_cast<size_t>(std::min<uint64_t>(
      tables_->EstimateTokenCount(), index::VerifyIndex::kMaxTokens));
  index_.Reserve(estimate);
  last_used_.Reserve(estimate);
  LoadedGroup last_group;
  status = tables_->ScanTokens(
      storage::TokenRange::All(),
      [&](const storage::StoredToken& token) ABSL_NO_THREAD_SAFETY_ANALYSIS
      -> absl::StatusOr<storage::ScanControl> {
        const int pepper_id = token.metadata.pepper_id;
        if (pepper_id < 1 || pepper_id > Keyring::kMaxPepperId ||
            !has_pepper[pepper_id]) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the store holds tokens digested with pepper ", pepper_id,
              ", which the keyring lacks: wrong or incomplete pepper file?"));
        }
        if (absl::Status s = LoadToken(token, last_group); !s.ok()) return s;
        // Only writers ask active_tokens_; a follower never writes.
        if (!follower_) active_tokens_.Add(token.metadata);
        return storage::ScanControl::kContinue;
      });
  if (!status.ok()) return status;
  if (status = LoadLastUsed(); !status.ok()) return status;
  // The log's position as of this same view: a follower applies what
  // follows it; a primary appends after it.
  if (status = change_log_.Load(*tables_); !status.ok()) return status;
  applied_position_ = change_log_.last_position();
  SetChangePosition(applied_position_);
  // A follower never writes events; a primary appends after the newest.
  if (!follower_) {
    if (status = events_.Load(*tables_); !status.ok()) return status;
  }

  if (batch.size() > 0) return tables_->Write(batch, /*sync=*/true);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Store>> internal::OpenStoreOnFileSystem(
    Options options, std::shared_ptr<rocksdb::FileSystem> base_file_system) {
  return StoreImpl::Open(std::move(options), std::move(base_file_system));
}

}  // namespace keygate::store
