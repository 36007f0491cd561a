// tests/secret_hygiene_test.cc: after a workload through the `keygate` CLI
// and through `keygate serve`, no token plaintext and no JWT is anywhere it
// should not be.
//
// The workload creates tokens and JWTs, then uses them in every way a
// client would and in several ways it should not (a token pasted as a slug,
// in a malformed Authorization header, a revoked or near-miss token, a JWT
// where a token belongs). Then it scans, byte for byte:
//   - every file under the store directory (RocksDB SSTs, WAL, MANIFEST,
//     OPTIONS, LOG), after forcing a flush and a compaction so the records
//     are in SST files as well as the WAL;
//   - the logical content of every column family, read back through RocksDB:
//     the store sets no compression, so RocksDB's default applies (Snappy
//     on SST data blocks where the library has it, as Debian's does; the WAL
//     is never compressed), and a compressed block could hide a needle from
//     the raw scan;
//   - the server's log (stdout and stderr), every HTTP response (status
//     line, headers, body) except the 201 bodies of token creation, and the
//     stdout and stderr of every CLI run except `token create`'s stdout and
//     `jwt mint`'s stdout (each prints the secret it was asked for, once).
// Needles: each token's full value, the value after its prefix, its 43-char
// random part alone; each JWT, and its signature segment alone.
//
// Failures name needles by index and kind, never by value.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table_properties.h"
#include "tests/serve_test_util.h"

namespace keygate::tool::test {
namespace {

constexpr size_t kPrefixSize = 3;  // "kg_"
constexpr size_t kSecretChars = 43;

// Haystack is one place scanned for needles.
struct Haystack {
  std::string where;
  std::string bytes;
};

// Needle is one secret form that must appear in no haystack.
struct Needle {
  std::string label;  // "token #3 random part", never the value
  std::string bytes;
};

// CliRun is what one run of the keygate binary wrote.
struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class SecretHygieneTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  void TearDown() override {
    for (Needle& n : needles_) sodium_memzero(n.bytes.data(), n.bytes.size());
  }

  // Cli runs `keygate --data-dir <store> args...` with `input` on stdin.
  // Its stdout is scanned unless `secret_stdout` (the run prints a secret by
  // design); its stderr always is.
  CliRun Cli(const std::vector<std::string>& args, bool secret_stdout = false,
             const std::string& input = "") {
    const std::string in_path = server_.dir() + "/cli.in";
    const std::string out_path = server_.dir() + "/cli.out";
    const std::string err_path = server_.dir() + "/cli.err";
    {
      std::ofstream in(in_path, std::ios::binary | std::ios::trunc);
      in << input;
    }
    std::vector<std::string> argv_strings = {KEYGATE_BINARY, "--data-dir",
                                             server_.dir() + "/data"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    CliRun run;
    // Built before fork: the child only makes system calls until execve.
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      const int in = open(in_path.c_str(), O_RDONLY);
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      char user[] = "USER=tester";
      char path[] = "PATH=/usr/bin:/bin";
      char* envp[] = {user, path, nullptr};
      execve(argv[0], argv.data(), envp);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    std::string what = "cli `" + Describe(args) + "`";
    if (secret_stdout) {
      excluded_.push_back(run.out);
    } else {
      haystacks_.push_back({what + " stdout", run.out});
    }
    haystacks_.push_back({what + " stderr", run.err});
    return run;
  }

  // Http sends a request and records the whole response unless it is a
  // token creation's 201 body (headers are still recorded).
  httplib::Result Http(const std::string& method, const std::string& path,
                       const httplib::Headers& headers,
                       const std::string& body = "") {
    httplib::Result res = [&] {
      if (method == "GET") return client_->Get(path.c_str(), headers);
      if (method == "POST") {
        return client_->Post(path.c_str(), headers, body, "application/json");
      }
      if (method == "PATCH") {
        return client_->Patch(path.c_str(), headers, body, "application/json");
      }
      return client_->Delete(path.c_str(), headers);
    }();
    ++http_requests_;
    if (!res) {
      ADD_FAILURE() << method << " " << Truncated(path) << ": transport error";
      return res;
    }
    std::string head = std::to_string(res->status) + "\n";
    for (const auto& [name, value] : res->headers) {
      head += name + ": " + value + "\n";
    }
    const std::string where = "http " + method + " request #" +
                              std::to_string(http_requests_) + " -> " +
                              std::to_string(res->status);
    haystacks_.push_back({where + " head", head});
    const bool token_created = method == "POST" && res->status == 201 &&
                               absl::EndsWith(path, "/tokens");
    if (token_created) {
      excluded_.push_back(res->body);
    } else {
      haystacks_.push_back({where + " body", res->body});
    }
    return res;
  }

  // AddToken records a token's secret forms as needles.
  void AddToken(const std::string& value) {
    ASSERT_EQ(value.size(), kPrefixSize + 1 + kSecretChars + 6);
    ASSERT_TRUE(absl::StartsWith(value, "kg_"));
    const std::string label = "token #" + std::to_string(tokens_.size());
    tokens_.push_back(value);
    needles_.push_back({label + " value", value});
    needles_.push_back({label + " after prefix", value.substr(kPrefixSize)});
    needles_.push_back(
        {label + " random part", value.substr(kPrefixSize + 1, kSecretChars)});
  }

  // AddJwt records a JWT and its signature segment as needles.
  void AddJwt(const std::string& jwt) {
    ASSERT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2);
    const std::string label = "jwt #" + std::to_string(jwts_.size());
    jwts_.push_back(jwt);
    needles_.push_back({label, jwt});
    needles_.push_back({label + " signature", jwt.substr(jwt.rfind('.') + 1)});
  }

  // NearMiss is `token` with its last random character changed: malformed
  // (its checksum no longer matches), the closest a typo gets.
  static std::string NearMiss(const std::string& token) {
    std::string out = token;
    char& c = out[kPrefixSize + kSecretChars];
    c = c == 'a' ? 'b' : 'a';
    return out;
  }

  static std::string Describe(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) {
      if (!out.empty()) out += ' ';
      // Never put a secret in a failure message.
      out += absl::StartsWith(a, "kg_") || absl::StartsWith(a, "ey")
                 ? std::string("<secret>")
                 : a;
    }
    return out;
  }
  static std::string Truncated(const std::string& s) {
    return s.size() > 40 ? s.substr(0, 20) + "..." : s;
  }

  // ScanStoreDirectory adds every file under the store directory, raw.
  void ScanStoreDirectory(const std::string& root) {
    size_t files = 0;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      ++files;
      haystacks_.push_back(
          {"store file " + entry.path().string(), ReadFile(entry.path())});
    }
    EXPECT_GT(files, 3u);
  }

  ServerProcess server_;
  std::unique_ptr<httplib::Client> client_;
  int http_requests_ = 0;
  std::vector<std::string> tokens_;
  std::vector<std::string> jwts_;
  std::vector<Needle> needles_;
  std::vector<Haystack> haystacks_;
  // The outputs left out of the scan because they show a secret by design.
  std::vector<std::string> excluded_;
};

TEST_F(SecretHygieneTest, CliAndServeWorkloadLeaksNoTokenOrJwt) {
  // ---- CLI (the store is the server's, before the server holds it) ----
  ASSERT_EQ(Cli({"sa", "create", "--org", "acme", "CLI bot", "--slug",
                 "cli-bot"})
                .exit_code,
            0);
  {
    const CliRun r =
        Cli({"--json", "token", "create", "--org", "acme", "cli-bot",
             "cli one", "--slug", "cli-one", "--scope", "read:tokens",
             "--scope", "write:tokens"},
            /*secret_stdout=*/true);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json created = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(created.is_object() && created["token"].is_string());
    AddToken(created["token"].get<std::string>());
  }
  {
    const CliRun r = Cli({"token", "create", "--org", "acme", "cli-bot",
                          "cli two", "--slug", "cli-two", "--scope",
                          "read:tokens", "--expires-in", "2h"},
                         /*secret_stdout=*/true);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      if (absl::ConsumePrefix(&line, "Token (shown once): ")) {
        AddToken(std::string(line));
      }
    }
    ASSERT_EQ(tokens_.size(), 2u) << "no value line in token create's output";
  }
  ASSERT_FALSE(HasFailure());
  const std::string cli_one = tokens_[0];
  const std::string cli_two = tokens_[1];
  EXPECT_EQ(Cli({"token", "verify", cli_one}).exit_code, 0);
  EXPECT_EQ(Cli({"--json", "token", "verify", cli_one, "--scope",
                 "read:tokens"})
                .exit_code,
            0);
  EXPECT_EQ(Cli({"token", "verify", "-"}, false, cli_one + "\n").exit_code, 0);
  EXPECT_EQ(Cli({"token", "verify", cli_one, "--scope", "delete:tokens"})
                .exit_code,
            1);
  EXPECT_EQ(Cli({"token", "verify", NearMiss(cli_one)}).exit_code, 1);
  EXPECT_EQ(Cli({"--json", "token", "verify", cli_one + "x"}).exit_code, 1);
  EXPECT_NE(Cli({"token", "revoke", "--org", "acme", "cli-bot", cli_one})
                .exit_code,
            0);  // a token where a slug belongs
  EXPECT_NE(Cli({"--json", "sa", "get", "--org", "acme", cli_one}).exit_code,
            0);
  EXPECT_NE(Cli({"token", "verify", cli_one, "extra"}).exit_code, 0);
  EXPECT_EQ(Cli({"token", "list", "--org", "acme", "cli-bot"}).exit_code, 0);
  EXPECT_EQ(Cli({"--json", "token", "list", "--org", "acme", "cli-bot"})
                .exit_code,
            0);
  EXPECT_EQ(Cli({"token", "revoke", "--org", "acme", "cli-bot", "cli-two"})
                .exit_code,
            0);
  EXPECT_EQ(Cli({"token", "verify", cli_two}).exit_code, 1);
  EXPECT_EQ(Cli({"sa", "disable", "--org", "acme", "cli-bot"}).exit_code, 0);
  EXPECT_EQ(Cli({"--json", "token", "verify", cli_one}).exit_code, 1);
  EXPECT_EQ(Cli({"sa", "enable", "--org", "acme", "cli-bot"}).exit_code, 0);
  EXPECT_EQ(Cli({"sa", "get", "--org", "acme", "cli-bot"}).exit_code, 0);
  EXPECT_EQ(Cli({"purge"}).exit_code, 0);
  {
    const CliRun r = Cli({"jwt", "mint", "--org", "acme", "--sub", "carol",
                          "--jwt-secret-file", server_.dir() + "/jwt-secret",
                          "--ttl", "1h"},
                         /*secret_stdout=*/true);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string jwt = r.out;
    while (!jwt.empty() && (jwt.back() == '\n' || jwt.back() == '\r')) {
      jwt.pop_back();
    }
    AddJwt(jwt);
  }
  EXPECT_EQ(Cli({"token", "verify", jwts_[0]}).exit_code, 1);

  // ---- keygate serve ----
  server_.Start();
  ASSERT_FALSE(HasFatalFailure());
  client_ = server_.Client();
  const std::string jwt = server_.Jwt("acme", "alice");
  AddJwt(jwt);
  const std::string cli_jwt = jwts_[0];
  const std::string expired_jwt = SignHs256(
      R"({"alg":"HS256","typ":"JWT"})",
      nlohmann::json{{"org", "acme"}, {"sub", "mallory"},
                     {"exp", UnixNow() - 3600}}
          .dump(),
      server_.jwt_key());
  AddJwt(expired_jwt);
  const std::string forged_jwt = SignHs256(
      R"({"alg":"HS256","typ":"JWT"})",
      nlohmann::json{{"org", "acme"}, {"sub", "mallory"},
                     {"exp", UnixNow() + 600}}
          .dump(),
      "not-the-server-key-0123456789abcdef-0123456789");
  AddJwt(forged_jwt);

  {
    auto res = Http("POST", "/service-accounts", Bearer(jwt),
                    R"({"name":"HTTP bot","slug":"http-bot"})");
    ASSERT_TRUE(res && res->status == 201);
  }
  auto create_token = [&](const std::string& credential,
                          const nlohmann::json& body) -> std::string {
    auto res = Http("POST", "/service-accounts/http-bot/tokens",
                    Bearer(credential), body.dump());
    if (!res || res->status != 201) return "";
    const nlohmann::json out = nlohmann::json::parse(res->body, nullptr, false);
    return out.is_object() && out["token"].is_string()
               ? out["token"].get<std::string>()
               : "";
  };
  const std::string http_writer = create_token(
      jwt, {{"name", "writer"}, {"slug", "writer"},
            {"scopes", {"read:tokens", "write:tokens"}}});
  ASSERT_FALSE(http_writer.empty());
  AddToken(http_writer);
  const std::string http_reader = create_token(
      cli_jwt, {{"name", "reader"}, {"slug", "reader"},
                {"scopes", {"read:tokens"}}});
  ASSERT_FALSE(http_reader.empty());
  AddToken(http_reader);
  // A token creates a token (delegation), then is refused one it may not.
  const std::string delegated = create_token(
      http_writer, {{"name", "delegated"}, {"slug", "delegated"},
                    {"scopes", {"read:tokens"}}});
  ASSERT_FALSE(delegated.empty());
  AddToken(delegated);
  EXPECT_TRUE(create_token(http_writer, {{"name", "too much"},
                                         {"scopes", {"write:*"}}})
                  .empty());
  EXPECT_TRUE(create_token(http_reader, {{"name", "no write"},
                                         {"scopes", {"read:tokens"}}})
                  .empty());
  // Validation errors with a token or a JWT in the fields they echo.
  EXPECT_TRUE(create_token(jwt, {{"name", "x"},
                                 {"slug", http_reader},
                                 {"scopes", {http_reader}}})
                  .empty());
  EXPECT_TRUE(create_token(jwt, {{"name", "y"}, {"slug", cli_jwt},
                                 {"scopes", {cli_jwt}}})
                  .empty());

  const std::vector<std::string> all_tokens = tokens_;
  for (const std::string& token : all_tokens) {
    Http("GET", "/whoami", Bearer(token));
    Http("GET", "/auth/check", Bearer(token));
    Http("GET", "/service-accounts/http-bot/tokens", Bearer(token));
    Http("GET", "/whoami", Bearer(NearMiss(token)));
    Http("GET", "/whoami", {{"Authorization", "Bearer " + token + " extra"}});
    Http("GET", "/whoami", {{"Authorization", "Basic " + token}});
    Http("GET", "/whoami", {{"Authorization", "Bearer  " + token}});
    Http("GET", "/whoami",
         {{"Authorization", "Bearer " + token}, {"Authorization", "Bearer x"}});
    Http("GET", "/service-accounts/" + token + "/tokens", Bearer(jwt));
    Http("DELETE", "/service-accounts/http-bot/tokens/" + token, Bearer(jwt));
    Http("GET", "/service-accounts?cursor=" + token, Bearer(jwt));
  }
  for (const std::string& credential :
       {jwt, cli_jwt, expired_jwt, forged_jwt, NearMiss(jwt)}) {
    Http("GET", "/whoami", Bearer(credential));
    Http("GET", "/service-accounts", Bearer(credential));
    Http("GET", "/auth/check", Bearer(credential));
    Http("GET", "/service-accounts/" + credential, Bearer(jwt));
  }
  Http("PATCH", "/service-accounts/http-bot", Bearer(jwt),
       nlohmann::json{{"name", "renamed"}}.dump());
  Http("PATCH", "/service-accounts/http-bot", Bearer(jwt), "{\"name\":");
  {
    auto res = Http("DELETE", "/service-accounts/http-bot/tokens/reader",
                    Bearer(http_writer));
    EXPECT_TRUE(res && res->status == 204);
  }
  {
    auto res = Http("GET", "/whoami", Bearer(http_reader));  // revoked
    EXPECT_TRUE(res && res->status == 401);
  }
  EXPECT_EQ(server_.Stop(), 0);
  client_.reset();
  haystacks_.push_back({"server log", server_.log()});

  // ---- the CLI once more, on the store the server left ----
  EXPECT_EQ(Cli({"--json", "token", "list", "--org", "acme", "http-bot"})
                .exit_code,
            0);
  EXPECT_EQ(Cli({"token", "verify", http_writer}).exit_code, 0);
  EXPECT_EQ(Cli({"token", "verify", http_reader}).exit_code, 1);

  // ---- flush and compact, so the records are in SSTs too; read them back ----
  const std::string store_path = server_.dir() + "/data";
  {
    std::vector<std::string> families;
    rocksdb::Status s =
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), store_path,
                                        &families);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& f : families) {
      descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::Open(rocksdb::DBOptions(), store_path, descriptors,
                          &handles, &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string logical;
    size_t records = 0;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      EXPECT_TRUE(db->Flush(rocksdb::FlushOptions(), h).ok());
      EXPECT_TRUE(
          db->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr)
              .ok());
      std::unique_ptr<rocksdb::Iterator> it(
          db->NewIterator(rocksdb::ReadOptions(), h));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        logical.append(it->key().data(), it->key().size());
        logical.push_back('\0');
        logical.append(it->value().data(), it->value().size());
        logical.push_back('\0');
        ++records;
      }
      EXPECT_TRUE(it->status().ok());
    }
    // What the SST files hold is compressed with (the store sets nothing,
    // so this is RocksDB's default for this build), for the record.
    std::string compressions;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      rocksdb::TablePropertiesCollection tables;
      EXPECT_TRUE(db->GetPropertiesOfAllTables(h, &tables).ok());
      for (const auto& [file, props] : tables) {
        if (compressions.find(props->compression_name) == std::string::npos) {
          compressions += props->compression_name + " ";
        }
      }
    }
    RecordProperty("sst_compression", compressions);
    std::printf("SST compression after flush and compaction: %s\n",
                compressions.c_str());
    EXPECT_FALSE(compressions.empty()) << "no SST file to scan";
    // Sanity: the scan reads where the records live (slugs are not secret).
    EXPECT_THAT(logical, HasSubstr("writer"));
    EXPECT_GT(records, 5u);
    haystacks_.push_back({"store records read through RocksDB", logical});
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    }
    EXPECT_TRUE(db->Close().ok());
  }
  ScanStoreDirectory(store_path);

  // ---- the scan ----
  ASSERT_EQ(tokens_.size(), 5u);
  ASSERT_EQ(jwts_.size(), 4u);
  size_t scanned_bytes = 0;
  for (const Haystack& h : haystacks_) scanned_bytes += h.bytes.size();
  EXPECT_GT(scanned_bytes, 10000u);
  // The needles are the real secrets: each token and the CLI-minted JWT
  // appear in the output that was meant to show them.
  for (size_t i = 0; i < tokens_.size(); ++i) {
    bool shown = false;
    for (const std::string& e : excluded_) {
      shown = shown || e.find(tokens_[i]) != std::string::npos;
    }
    EXPECT_TRUE(shown) << "token #" << i << " in no create output";
  }
  {
    bool shown = false;
    for (const std::string& e : excluded_) {
      shown = shown || e.find(jwts_[0]) != std::string::npos;
    }
    EXPECT_TRUE(shown) << "jwt #0 not in jwt mint's output";
  }
  for (const Needle& n : needles_) {
    for (const Haystack& h : haystacks_) {
      EXPECT_EQ(h.bytes.find(n.bytes), std::string::npos)
          << n.label << " found in " << h.where;
    }
  }
  for (std::string& t : tokens_) sodium_memzero(t.data(), t.size());
  for (std::string& e : excluded_) sodium_memzero(e.data(), e.size());
}

}  // namespace
}  // namespace keygate::tool::test
