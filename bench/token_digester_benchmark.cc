// bench/token_digester_benchmark.cc: the keyed digest of a token, as
// TokenDigester computes it (a keyed state made once, copied per digest),
// against libsodium's one-shot keyed call and the unkeyed floor.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <string>

#include "keygate/keyring.h"
#include "lib/crypto/token_digester.h"
#include "lib/token/codec.h"

namespace {

constexpr char kPepper[] =
    "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

void BM_TokenDigester(benchmark::State& state) {
  auto keyring = keygate::Keyring::Parse(kPepper);
  auto digester = keygate::crypto::TokenDigester::Create(*keyring);
  if (!digester.ok()) {
    state.SkipWithError(digester.status().ToString().c_str());
    return;
  }
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  keygate::crypto::Digest digest;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*digester)->Compute(1, token.view(), &digest));
  }
}
BENCHMARK(BM_TokenDigester);

// The alternative: libsodium's one-shot keyed call, which redoes the key
// setup for every digest.
void BM_OneShotKeyedHash(benchmark::State& state) {
  if (sodium_init() < 0) {
    state.SkipWithError("sodium_init failed");
    return;
  }
  unsigned char key[crypto_generichash_KEYBYTES];
  randombytes_buf(key, sizeof key);
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  const auto* data = reinterpret_cast<const unsigned char*>(token.view().data());
  unsigned char out[crypto_generichash_BYTES];
  for (auto _ : state) {
    crypto_generichash(out, sizeof out, data, token.size(), key, sizeof key);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_OneShotKeyedHash);

// The floor: an unkeyed BLAKE2b-256 of the same bytes (one compression).
void BM_UnkeyedHash(benchmark::State& state) {
  if (sodium_init() < 0) {
    state.SkipWithError("sodium_init failed");
    return;
  }
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  const auto* data = reinterpret_cast<const unsigned char*>(token.view().data());
  unsigned char out[crypto_generichash_BYTES];
  for (auto _ : state) {
    crypto_generichash(out, sizeof out, data, token.size(), nullptr, 0);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_UnkeyedHash);

}  // namespace

BENCHMARK_MAIN();
