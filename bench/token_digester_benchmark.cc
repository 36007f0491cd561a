// bench/token_digester_benchmark.cc: the keyed digest of a token, as
// TokenDigester computes it per algorithm, against the constructions it was
// chosen from (docs/token-digest.md).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstring>
#include <string>

#include "keygate/keyring.h"
#include "lib/crypto/token_digester.h"
#include "lib/token/codec.h"

namespace {

constexpr char kKeyHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

void DigestWith(benchmark::State& state, const char* algorithm) {
  auto keyring =
      keygate::Keyring::Parse(std::string("1 ") + kKeyHex + " " + algorithm);
  if (!keyring.ok()) {
    state.SkipWithError(keyring.status().ToString().c_str());
    return;
  }
  auto digester = keygate::crypto::TokenDigester::Create(*keyring);
  if (!digester.ok()) {
    state.SkipWithError(digester.status().ToString().c_str());
    return;
  }
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  keygate::crypto::Digest digest;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*digester)->Compute(1, token.view(), &digest));
    benchmark::ClobberMemory();
  }
}

// What verify pays per token, by pepper algorithm.
void BM_DigestBlake2bKeyed(benchmark::State& state) {
  DigestWith(state, "blake2b");
}
BENCHMARK(BM_DigestBlake2bKeyed);
void BM_DigestSha256KeyBlock(benchmark::State& state) {
  DigestWith(state, "sha256");
}
BENCHMARK(BM_DigestSha256KeyBlock);

// SHA-256 from a state precomputed over a 64-byte block: low-level
// SHA256_CTX copy + update + final.
void BM_Sha256LowLevelCopy(benchmark::State& state) {
  unsigned char block[64] = {1, 2, 3};
  SHA256_CTX keyed;
  SHA256_Init(&keyed);
  SHA256_Update(&keyed, block, sizeof block);
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  unsigned char out[32];
  for (auto _ : state) {
    SHA256_CTX ctx = keyed;
    SHA256_Update(&ctx, token.view().data(), token.size());
    SHA256_Final(out, &ctx);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Sha256LowLevelCopy);

// The same through EVP: EVP_MD_CTX_copy_ex + update + final.
void BM_Sha256EvpCopy(benchmark::State& state) {
  unsigned char block[64] = {1, 2, 3};
  EVP_MD_CTX* keyed = EVP_MD_CTX_new();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_DigestInit_ex(keyed, md, nullptr);
  EVP_DigestUpdate(keyed, block, sizeof block);
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  unsigned char out[32];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_MD_CTX_copy_ex(ctx, keyed);
    EVP_DigestUpdate(ctx, token.view().data(), token.size());
    EVP_DigestFinal_ex(ctx, out, &len);
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
  EVP_MD_CTX_free(ctx);
  EVP_MD_CTX_free(keyed);
}
BENCHMARK(BM_Sha256EvpCopy);

// HMAC-SHA-256 from precomputed inner and outer states (two compressions).
void BM_HmacSha256Precomputed(benchmark::State& state) {
  unsigned char ipad[64], opad[64];
  std::memset(ipad, 0x36, sizeof ipad);
  std::memset(opad, 0x5c, sizeof opad);
  SHA256_CTX inner, outer;
  SHA256_Init(&inner);
  SHA256_Update(&inner, ipad, sizeof ipad);
  SHA256_Init(&outer);
  SHA256_Update(&outer, opad, sizeof opad);
  keygate::SecretString token = keygate::token::TokenCodec("kg_").Generate(1);
  unsigned char mid[32], out[32];
  for (auto _ : state) {
    SHA256_CTX ctx = inner;
    SHA256_Update(&ctx, token.view().data(), token.size());
    SHA256_Final(mid, &ctx);
    ctx = outer;
    SHA256_Update(&ctx, mid, sizeof mid);
    SHA256_Final(out, &ctx);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_HmacSha256Precomputed);

// libsodium's one-shot keyed BLAKE2b, which redoes the key setup.
void BM_Blake2bOneShotKeyed(benchmark::State& state) {
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
BENCHMARK(BM_Blake2bOneShotKeyed);

}  // namespace
