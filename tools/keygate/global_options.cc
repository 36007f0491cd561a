// tools/keygate/global_options.cc: defaults of the global flags and opening
// the store they name.
#include "tools/keygate/global_options.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "keygate/errors.h"
#include "keygate/keyring.h"
#include "keygate/options.h"
#include "lib/base/absl_view.h"

namespace keygate::tool {
namespace {

constexpr char kDefaultDataDir[] = "./keygate-data";

std::string FromEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// WithoutTrailingSlashes turns "dir/" into "dir" so "<dir>.pepper" names a
// sibling of the store, never a file inside it. "/" stays "/".
std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// WithContext returns `status` with its message wrapped as
// "<before><message><after>", keeping its code and payloads (field errors).
absl::Status WithContext(const absl::Status& status, std::string_view before,
                         std::string_view after = {}) {
  absl::Status wrapped(
      status.code(),
      absl::StrCat(AbslView(before),
                   status.message(),
                   AbslView(after)));
  status.ForEachPayload(
      [&wrapped](absl::string_view type_url, const absl::Cord& payload) {
        wrapped.SetPayload(type_url, payload);
      });
  return wrapped;
}

}  // namespace

void ResolveDefaults(GlobalOptions& options) {
  if (options.data_dir.empty()) {
    options.data_dir = FromEnvironment("KEYGATE_DATA_DIR");
  }
  if (options.data_dir.empty()) options.data_dir = kDefaultDataDir;
  if (options.pepper_file.empty()) {
    options.pepper_file = FromEnvironment("KEYGATE_PEPPER_FILE");
  }
  if (options.postgres.empty()) {
    options.postgres = FromEnvironment("KEYGATE_POSTGRES");
  }
  if (options.pepper_file.empty()) {
    options.pepper_file =
        WithoutTrailingSlashes(options.data_dir) + ".pepper";
  }
}

std::string StoreLabel(const GlobalOptions& options) {
  return options.postgres.empty() ? options.data_dir
                                  : std::string("the PostgreSQL store");
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(
    const GlobalOptions& options,
    const std::function<void(Options&)>& adjust) {
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Load(options.pepper_file);
  if (!keyring.ok()) {
    if (absl::IsNotFound(keyring.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pepper file ", options.pepper_file,
          " does not exist; run `keygate init` to create the store and its "
          "pepper, or pass --pepper-file"));
    }
    return WithContext(
        keyring.status(),
        absl::StrCat("cannot load pepper file ", options.pepper_file, ": "));
  }

  Options store_options;
  if (options.postgres.empty()) {
    store_options.path = options.data_dir;
  } else {
    store_options.postgres_connection = options.postgres;
  }
  store_options.record_events = options.record_events;
  store_options.keyring = *std::move(keyring);
  for (const std::string& module : options.scope_modules) {
    auto& modules = store_options.scope_modules;
    if (std::find(modules.begin(), modules.end(), module) == modules.end()) {
      modules.push_back(module);
    }
  }
  if (adjust) adjust(store_options);
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(std::move(store_options));
  if (!store.ok()) {
    std::string hint;
    if (IsStoreInUse(store.status())) {
      hint =
          " (is `keygate serve` or another keygate process using this "
          "store? Stop it and try again)";
    }
    return WithContext(
        store.status(),
        absl::StrCat("cannot open store ", StoreLabel(options), ": "), hint);
  }
  return store;
}

}  // namespace keygate::tool
