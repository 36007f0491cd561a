// bench/verify_benchmark.cc: the verify hot path, end to end and by stage.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "keygate/keygate.h"
#include "lib/token/codec.h"

namespace {

constexpr char kPepper[] =
    "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

// StoreFixture opens a fresh store holding `n` tokens in one account.
class StoreFixture {
 public:
  explicit StoreFixture(int n) {
    char tmpl[] = "/tmp/keygate-bench-XXXXXX";
    dir_ = mkdtemp(tmpl);
    keygate::Options options;
    options.path = dir_ + "/store";
    options.keyring = *keygate::Keyring::Parse(kPepper);
    options.sync_writes = false;
    auto store = keygate::Store::Open(options);
    if (!store.ok()) {
      error_ = store.status().ToString();
      return;
    }
    store_ = *std::move(store);
    auto account = store_->CreateServiceAccount(
        "org", {"bench", std::string("bench")}, "bench");
    if (!account.ok()) {
      error_ = account.status().ToString();
      return;
    }
    for (int i = 0; i < n; ++i) {
      keygate::TokenSpec spec;
      spec.name = "t" + std::to_string(i);
      spec.scopes = {"read:tokens"};
      auto token = store_->CreateToken("org", "bench", spec, "bench");
      if (!token.ok()) {
        error_ = token.status().ToString();
        return;
      }
      tokens_.emplace_back(std::move(token->value));
    }
  }
  ~StoreFixture() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  const std::string& error() const { return error_; }
  keygate::Store& store() { return *store_; }
  const std::vector<keygate::SecretString>& tokens() const { return tokens_; }

 private:
  std::string dir_;
  std::string error_;
  std::unique_ptr<keygate::Store> store_;
  std::vector<keygate::SecretString> tokens_;
};

// Full Store::Verify of valid tokens, cycling through `range(0)` tokens.
void BM_VerifyValid(benchmark::State& state) {
  StoreFixture fixture(static_cast<int>(state.range(0)));
  if (!fixture.error().empty()) {
    state.SkipWithError(fixture.error().c_str());
    return;
  }
  size_t i = 0;
  const auto& tokens = fixture.tokens();
  for (auto _ : state) {
    auto principal = fixture.store().Verify(tokens[i].view(), "read:tokens");
    benchmark::DoNotOptimize(principal);
    if (!principal.ok()) {
      state.SkipWithError("verify failed");
      return;
    }
    if (++i == tokens.size()) i = 0;
  }
}
BENCHMARK(BM_VerifyValid)->Arg(1)->Arg(10000);

// A typo'd token: rejected by the checksum alone.
void BM_VerifyMalformed(benchmark::State& state) {
  StoreFixture fixture(1);
  if (!fixture.error().empty()) {
    state.SkipWithError(fixture.error().c_str());
    return;
  }
  std::string typo(fixture.tokens()[0].view());
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  for (auto _ : state) {
    auto principal = fixture.store().Verify(typo);
    benchmark::DoNotOptimize(principal);
  }
}
BENCHMARK(BM_VerifyMalformed);

// Stage: strict parse + checksum only.
void BM_ParseToken(benchmark::State& state) {
  keygate::token::TokenCodec codec("kg_");
  keygate::SecretString token = codec.Generate(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(codec.ParsePepperId(token.view()));
  }
}
BENCHMARK(BM_ParseToken);

}  // namespace

BENCHMARK_MAIN();
