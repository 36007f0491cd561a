// tests/cli_test.cc: drives the real `keygate` binary (KEYGATE_BINARY) in a
// fresh temporary directory per test.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/keyring.h"
#include "keygate/options.h"
#include "keygate/store.h"
#include "nlohmann/json.hpp"
#include "keygate/http/jwt.h"

namespace keygate {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Result is what one run of the binary did.
struct Result {
  int exit_code = -1;  // 128 + signal if it died of a signal
  bool signaled = false;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.exit_code << "\n--- stdout:\n"
            << r.out << "\n--- stderr:\n"
            << r.err;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // the child may exit before reading stdin
    std::string pattern =
        (std::filesystem::temp_directory_path() / "keygate_cli_XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    data_dir_ = dir_ + "/data";
    pepper_file_ = dir_ + "/data.pepper";
  }

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Run executes keygate with `args` in the temp dir, with
  // KEYGATE_DATA_DIR / KEYGATE_PEPPER_FILE pointing into it, USER=tester,
  // and `input` on stdin.
  Result Run(const std::vector<std::string>& args,
             const std::string& input = "",
             std::vector<std::string> env = {}) {
    if (env.empty()) {
      env = {"KEYGATE_DATA_DIR=" + data_dir_,
             "KEYGATE_PEPPER_FILE=" + pepper_file_, "USER=tester"};
    }
    env.push_back("PATH=/usr/bin:/bin");
    return Exec(args, input, env);
  }

  Result Exec(const std::vector<std::string>& args, const std::string& input,
              const std::vector<std::string>& env) {
    Result result;
    int in[2], out[2], err[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return result;
    }
    std::vector<char*> argv;
    std::string binary = KEYGATE_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> args_copy = args;
    for (std::string& a : args_copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_copy = env;
    std::vector<char*> envp;
    for (std::string& e : env_copy) envp.push_back(e.data());
    envp.push_back(nullptr);

    const pid_t pid = fork();
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
      if (chdir(dir_.c_str()) != 0) _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    size_t written = 0;
    int in_fd = in[1];
    if (input.empty()) {
      close(in_fd);
      in_fd = -1;
    } else {
      fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    bool out_open = true, err_open = true;
    char buffer[65536];
    while (out_open || err_open) {
      std::vector<pollfd> fds;
      if (out_open) fds.push_back({out[0], POLLIN, 0});
      if (err_open) fds.push_back({err[0], POLLIN, 0});
      if (in_fd >= 0) fds.push_back({in_fd, POLLOUT, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (const pollfd& p : fds) {
        if (p.revents == 0) continue;
        if (p.fd == in_fd) {
          const ssize_t n =
              write(in_fd, input.data() + written, input.size() - written);
          if (n > 0) written += n;
          if (n < 0 && errno != EAGAIN) written = input.size();
          if (written == input.size()) {
            close(in_fd);
            in_fd = -1;
          }
          continue;
        }
        const ssize_t n = read(p.fd, buffer, sizeof(buffer));
        std::string& sink = p.fd == out[0] ? result.out : result.err;
        if (n > 0) {
          sink.append(buffer, n);
        } else if (n == 0 || errno != EINTR) {
          (p.fd == out[0] ? out_open : err_open) = false;
        }
      }
    }
    if (in_fd >= 0) close(in_fd);
    close(out[0]);
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signaled = true;
      result.exit_code = 128 + WTERMSIG(status);
    }
    return result;
  }

  // Init runs `keygate init` and expects success.
  void Init() {
    const Result r = Run({"init"});
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  // Json parses text as JSON, failing the test (not crashing) if it is not.
  static json Json(const std::string& text) {
    json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << text;
    return value;
  }

  // CreateAccount creates account `slug` in `org` and expects success.
  void CreateAccount(const std::string& org, const std::string& slug) {
    const Result r = Run({"sa", "create", "--org", org, "Account " + slug,
                          "--slug", slug});
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  // CreateToken creates a token and returns its value (from --json).
  std::string CreateToken(const std::string& org, const std::string& account,
                          const std::string& name,
                          const std::vector<std::string>& extra = {
                              "--scope", "read:tokens"}) {
    std::vector<std::string> args = {"--json", "token", "create", "--org",
                                     org,      account, name};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    const json created = Json(r.out);
    if (!created.is_object() || !created.contains("token")) return "";
    return created["token"].get<std::string>();
  }

  // AccountCount returns how many accounts `sa list --json` shows in `org`.
  size_t AccountCount(const std::string& org) {
    const Result r = Run({"--json", "sa", "list", "--org", org});
    EXPECT_EQ(r.exit_code, 0) << r;
    const json list = Json(r.out);
    return list.is_object() ? list["items"].size() : 0;
  }

  std::string dir_;
  std::string data_dir_;
  std::string pepper_file_;
};

TEST_F(CliTest, InitCreatesPepperFileWithMode0600AndIsRerunnable) {
  Result r = Run({"init"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(pepper_file_));
  EXPECT_THAT(r.out, HasSubstr(data_dir_));
  struct stat st;
  ASSERT_EQ(stat(pepper_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_TRUE(std::filesystem::is_directory(data_dir_));

  std::ifstream before_file(pepper_file_);
  const std::string before((std::istreambuf_iterator<char>(before_file)), {});
  r = Run({"init"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("already exists"));
  std::ifstream after_file(pepper_file_);
  const std::string after((std::istreambuf_iterator<char>(after_file)), {});
  EXPECT_EQ(before, after) << "init must reuse an existing pepper file";
}

TEST_F(CliTest, DefaultsComeFromFlagsOverEnvironment) {
  // Flags win over the environment; the pepper defaults to <data-dir>.pepper.
  const std::string other = dir_ + "/other";
  Result r = Run({"--data-dir", other + "/", "init"}, "",
                 {"KEYGATE_DATA_DIR=" + data_dir_, "USER=tester"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(other + ".pepper"));
  EXPECT_TRUE(std::filesystem::is_directory(other));
  EXPECT_FALSE(std::filesystem::exists(pepper_file_));
  // Without any flag or environment: ./keygate-data in the working dir.
  r = Run({"init"}, "", {"USER=tester"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/keygate-data"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/keygate-data.pepper"));
}

// `events tail` prints the outbox one JSON object per line, from the
// acknowledged position; --ack moves it; a write without --record-events
// records nothing; no line holds the token value.
TEST_F(CliTest, EventsTailPrintsAndAcknowledges) {
  Init();
  ASSERT_EQ(Run({"--record-events", "sa", "create", "--org", "acme", "Builder",
                 "--slug", "builder"})
                .exit_code,
            0);
  const Result created =
      Run({"--record-events", "--json", "token", "create", "--org", "acme",
           "builder", "ci", "--scope", "read:tokens"});
  ASSERT_EQ(created.exit_code, 0) << created;
  const json token = Json(created.out);
  ASSERT_TRUE(token.is_object() && token.contains("token"));
  const std::string value = token["token"].get<std::string>();
  // Not recorded: the flag is off.
  ASSERT_EQ(Run({"sa", "create", "--org", "acme", "Quiet"}).exit_code, 0);

  Result r = Run({"events", "tail"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.find(value), std::string::npos) << "token value printed";
  std::vector<json> lines;
  const std::vector<std::string> texts =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  for (const std::string& line : texts) lines.push_back(Json(line));
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0]["position"], 1);
  EXPECT_EQ(lines[0]["type"], "service_account.created");
  EXPECT_EQ(lines[0]["organization"], "acme");
  EXPECT_EQ(lines[0]["actor"], "tester");
  EXPECT_EQ(lines[0]["serviceAccount"]["slug"], "builder");
  EXPECT_EQ(lines[1]["position"], 2);
  EXPECT_EQ(lines[1]["type"], "token.created");
  EXPECT_EQ(lines[1]["token"]["slug"], "ci");
  EXPECT_TRUE(lines[1]["id"].get<std::string>().rfind("evt_", 0) == 0);

  r = Run({"events", "tail", "--after", "1", "--limit", "1"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("\"token.created\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("service_account.created"), std::string::npos) << r.out;

  r = Run({"events", "tail", "--limit", "1", "--ack"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("service_account.created"), std::string::npos) << r.out;
  // Acknowledged through 1: the next tail starts at 2.
  r = Run({"events", "tail"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out.find("service_account.created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("token.created"), std::string::npos) << r.out;
}

TEST_F(CliTest, WebhookLifecycle) {
  Init();
  Result r = Run({"--json", "webhook", "create", "--org", "acme",
                  "https://hooks.example.com/kg", "--event",
                  "token.created,token.revoked", "--description", "audit"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json created = Json(r.out);
  const std::string id = created.value("id", "");
  const std::string secret = created.value("secret", "");
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u);
  EXPECT_EQ(created["eventNames"], json({"token.created", "token.revoked"}));
  EXPECT_EQ(created["createdBy"], "tester");

  r = Run({"webhook", "list", "--org", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(id));
  EXPECT_THAT(r.out, Not(HasSubstr(secret.substr(6))));
  r = Run({"--json", "webhook", "list", "--org", "other"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["items"], json::array());

  r = Run({"--json", "webhook", "rotate-secret", "--org", "acme", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(Json(r.out).value("secret", ""), secret);

  // The SSRF guard and the event vocabulary hold on the CLI too.
  r = Run({"--json", "webhook", "create", "--org", "acme",
           "http://169.254.169.254/", "--event", "token.created"});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"--json", "webhook", "create", "--org", "acme",
           "https://hooks.example.com/", "--event", "token.exploded"});
  EXPECT_EQ(r.exit_code, 1) << r;

  r = Run({"webhook", "delete", "--org", "other", id});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"webhook", "delete", "--org", "acme", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  r = Run({"--json", "webhook", "list", "--org", "acme"});
  EXPECT_EQ(Json(r.out)["items"], json::array());
}

TEST_F(CliTest, ServiceAccountLifecycle) {
  Init();
  Result r = Run({"sa", "create", "--org", "acme", "CI bot", "--slug",
                  "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("ci-bot"));

  r = Run({"sa", "list", "--org", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("SLUG"));
  EXPECT_THAT(r.out, HasSubstr("ci-bot"));
  EXPECT_THAT(r.out, HasSubstr("CI bot"));

  r = Run({"--json", "sa", "get", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json account = Json(r.out);
  EXPECT_EQ(account["slug"], "ci-bot");
  EXPECT_EQ(account["name"], "CI bot");
  EXPECT_EQ(account["disabled"], false);
  EXPECT_EQ(account["createdBy"], "tester");
  EXPECT_TRUE(absl::EndsWith(account["createdAt"].get<std::string>(), "Z"));

  r = Run({"--json", "sa", "disable", "--org", "acme", "ci-bot", "--actor",
           "alice"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["disabled"], true);
  EXPECT_EQ(Json(r.out)["updatedBy"], "alice");
  r = Run({"--json", "sa", "enable", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["disabled"], false);

  r = Run({"--json", "sa", "rename", "--org", "acme", "ci-bot", "Robot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["name"], "Robot");

  // Another organization sees nothing.
  r = Run({"sa", "get", "--org", "other", "ci-bot"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(AccountCount("other"), 0u);

  r = Run({"sa", "delete", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(AccountCount("acme"), 0u);
  r = Run({"--json", "sa", "get", "--org", "acme", "ci-bot"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(Json(r.err)["error"]["code"], "NOT_FOUND");
  r = Run({"sa", "delete", "--org", "acme", "ci-bot"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("keygate: "));
}

TEST_F(CliTest, SlugDerivedFromNameWhenAbsent) {
  Init();
  const Result r = Run({"--json", "sa", "create", "--org", "acme",
                        "Build Robot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string slug = Json(r.out)["slug"].get<std::string>();
  EXPECT_THAT(slug, StartsWith("build-robot"));
  EXPECT_EQ(AccountCount("acme"), 1u);
}

TEST_F(CliTest, TokenValueIsPrintedOnlyByCreate) {
  Init();
  CreateAccount("acme", "ci-bot");

  // Human output: one clear line with the value.
  Result r = Run({"token", "create", "--org", "acme", "ci-bot", "Deploy key",
                  "--scope", "read:tokens", "--scope", "write:tokens"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string human_token;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::ConsumePrefix(&line, "Token (shown once): ")) {
      human_token = std::string(line);
    }
  }
  ASSERT_THAT(human_token, StartsWith("kg_"));
  EXPECT_EQ(r.out.find(human_token), r.out.rfind(human_token))
      << "the value must appear exactly once";

  // JSON output: the "token" member.
  const std::string token = CreateToken("acme", "ci-bot", "Second");
  ASSERT_THAT(token, StartsWith("kg_"));

  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"token", "list", "--org", "acme", "ci-bot"},
           {"--json", "token", "list", "--org", "acme", "ci-bot"},
           {"sa", "get", "--org", "acme", "ci-bot"},
           {"token", "verify", token},
           {"--json", "token", "verify", token},
       }) {
    r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, Not(HasSubstr(token)));
    EXPECT_THAT(r.out, Not(HasSubstr(human_token)));
    EXPECT_THAT(r.err, Not(HasSubstr(token)));
  }

  r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  const json list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["name"], "Second");  // newest first
  EXPECT_EQ(list["items"][1]["slug"], "deploy-key");
  EXPECT_EQ(list["items"][1]["scopes"],
            json({"read:tokens", "write:tokens"}));
  EXPECT_TRUE(list["items"][1]["revokedAt"].is_null());
  EXPECT_FALSE(list["items"][1].contains("token"));
}

TEST_F(CliTest, TokenValueIsWrittenToNoFile) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "secret");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(Run({"token", "verify", "-"}, token).exit_code, 0);
  ASSERT_EQ(Run({"token", "revoke", "--org", "acme", "ci-bot", "secret"})
                .exit_code,
            0);
  // Everything under the temp dir: the store, the pepper file, anything the
  // CLI might have left behind.
  const std::string secret = token.substr(token.find('_') + 1);
  size_t files = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(bytes.find(secret), std::string::npos) << entry.path();
  }
  EXPECT_GT(files, 2u);
}

TEST_F(CliTest, TokenListJsonShowsLastUsedAtAcrossProcesses) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "Deploy",
                                        {"--slug", "deploy", "--scope",
                                         "read:tokens"});
  ASSERT_FALSE(token.empty());
  Result r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 1u);
  ASSERT_TRUE(list["items"][0].contains("lastUsedAt"));
  EXPECT_TRUE(list["items"][0]["lastUsedAt"].is_null());

  // One process verifies and exits (Close writes the time); the next lists.
  ASSERT_EQ(Run({"token", "verify", "-"}, token).exit_code, 0);
  r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 1u);
  ASSERT_TRUE(list["items"][0]["lastUsedAt"].is_string()) << r.out;
  absl::Time used;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full,
                              list["items"][0]["lastUsedAt"].get<std::string>(),
                              &used, &error))
      << error;
  EXPECT_LE(absl::AbsDuration(absl::Now() - used), absl::Minutes(5));
}

// While another process holds the store (as `keygate serve` does), the
// read-only commands open it as a follower and answer as of that moment.
TEST_F(CliTest, ReadOnlyCommandsFollowAStoreHeldByAnotherProcess) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "Deploy",
                                        {"--slug", "deploy", "--scope",
                                         "write:tokens"});
  ASSERT_FALSE(token.empty());
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Load(pepper_file_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  Options options;
  options.path = data_dir_;
  options.keyring = *keyring;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();

  Result r = Run({"token", "verify", "-"}, token + "\n");
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("deploy"));
  EXPECT_THAT(r.err, HasSubstr("follower"));
  r = Run({"--json", "sa", "list", "--org", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["items"].size(), 1u);
  r = Run({"--json", "sa", "get", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["slug"], "ci-bot");

  // A revocation by the holder is seen by the next command.
  ASSERT_TRUE((*store)->RevokeToken("acme", "ci-bot", "deploy", "bob").ok());
  r = Run({"token", "verify", "-"}, token + "\n");
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("invalid token"));
  EXPECT_THAT(r.err, Not(HasSubstr(token)));
  r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const json list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["revokedBy"], "bob");
  ASSERT_TRUE((*store)->Close().ok());
}

TEST_F(CliTest, VerifyExitCodesAndRevocation) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "Deploy",
                                        {"--slug", "deploy", "--scope",
                                         "write:tokens"});
  ASSERT_FALSE(token.empty());

  Result r = Run({"token", "verify", token});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("acme"));
  EXPECT_THAT(r.out, HasSubstr("ci-bot"));
  EXPECT_THAT(r.out, HasSubstr("deploy"));

  // From stdin, with the trailing newline `echo` adds (or CRLF, spaces).
  r = Run({"token", "verify", "-"}, "  " + token + " \r\n");
  EXPECT_EQ(r.exit_code, 0) << r;
  r = Run({"--json", "token", "verify", "-"}, token + "\n");
  ASSERT_EQ(r.exit_code, 0) << r;
  json principal = Json(r.out);
  EXPECT_EQ(principal["organization"], "acme");
  EXPECT_EQ(principal["serviceAccount"], "ci-bot");
  EXPECT_EQ(principal["token"], "deploy");
  EXPECT_TRUE(principal["expiresAt"].is_null());

  // write implies read; delete is not granted.
  r = Run({"token", "verify", token, "--scope", "read:tokens"});
  EXPECT_EQ(r.exit_code, 0) << r;
  r = Run({"token", "verify", token, "--scope", "delete:tokens"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("insufficient scope"));
  EXPECT_EQ(r.out, "");

  // A typo is rejected.
  std::string typo = token;
  typo.back() = typo.back() == 'a' ? 'b' : 'a';
  r = Run({"token", "verify", typo});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "keygate: invalid token\n");

  r = Run({"token", "revoke", "--org", "other", "ci-bot", "deploy"});
  EXPECT_EQ(r.exit_code, 1) << r;  // another org cannot revoke it
  r = Run({"token", "verify", "-"}, token);
  EXPECT_EQ(r.exit_code, 0) << r;

  r = Run({"token", "revoke", "--org", "acme", "ci-bot", "deploy", "--actor",
           "bob"});
  ASSERT_EQ(r.exit_code, 0) << r;
  r = Run({"token", "verify", "-"}, token);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "keygate: invalid token\n");
  EXPECT_EQ(r.out, "");
  r = Run({"--json", "token", "verify", token});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(Json(r.err)["error"]["message"], "invalid token");
  EXPECT_THAT(r.err, Not(HasSubstr(token)));

  r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  const json list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["revokedBy"], "bob");
  EXPECT_FALSE(list["items"][0]["revokedAt"].is_null());
  r = Run({"token", "list", "--org", "acme", "ci-bot"});
  EXPECT_THAT(r.out, HasSubstr("revoked"));

  // Revoking again is NotFound.
  r = Run({"token", "revoke", "--org", "acme", "ci-bot", "deploy"});
  EXPECT_EQ(r.exit_code, 1) << r;
}

TEST_F(CliTest, TokenRotateKeepsTheOldOneForItsGraceAndLinksBoth) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string old = CreateToken(
      "acme", "ci-bot", "deploy", {"--slug", "deploy", "--scope", "read:tokens"});
  ASSERT_FALSE(old.empty());

  // Bad grace: refused before the store is touched.
  for (const char* bad : {"-1h", "31d", "soon", ""}) {
    Result r = Run({"token", "rotate", "--org", "acme", "ci-bot", "deploy",
                    "--grace", bad});
    EXPECT_NE(r.exit_code, 0) << bad << ": " << r;
  }
  Result r = Run({"token", "rotate", "--org", "acme", "ci-bot", "deploy"});
  EXPECT_NE(r.exit_code, 0) << "--grace is required: " << r;

  r = Run({"--json", "token", "rotate", "--org", "acme", "ci-bot", "deploy",
           "--grace", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const json created = Json(r.out);
  ASSERT_TRUE(created.contains("token"));
  const std::string next = created["token"].get<std::string>();
  const std::string next_slug = created["slug"].get<std::string>();
  EXPECT_EQ(created["rotatedFrom"], "deploy");
  EXPECT_EQ(created["name"], "deploy");
  EXPECT_EQ(Run({"token", "verify", "-"}, old).exit_code, 0);
  EXPECT_EQ(Run({"token", "verify", "-"}, next).exit_code, 0);

  r = Run({"--json", "token", "list", "--org", "acme", "ci-bot"});
  const json list = Json(r.out);
  ASSERT_EQ(list["items"].size(), 2u) << r.out;
  bool linked = false;
  for (const json& item : list["items"]) {
    if (item["slug"] == "deploy") linked = item["rotatedTo"] == next_slug;
  }
  EXPECT_TRUE(linked) << r.out;
  r = Run({"token", "list", "--org", "acme", "ci-bot"});
  EXPECT_THAT(r.out, HasSubstr("grace (rotated to " + next_slug + ")"));

  // The old one, in its grace, cannot be rotated again; the successor can,
  // and with 0s its predecessor stops at once.
  r = Run({"token", "rotate", "--org", "acme", "ci-bot", "deploy", "--grace",
           "1h"});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"token", "rotate", "--org", "acme", "ci-bot", next_slug, "--grace",
           "0s"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Token (shown once)"));
  EXPECT_EQ(Run({"token", "verify", "-"}, next).exit_code, 1);
  EXPECT_EQ(Run({"token", "verify", "-"}, old).exit_code, 0);
}

TEST_F(CliTest, DisabledAccountTokensFailVerify) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "t");
  ASSERT_EQ(Run({"sa", "disable", "--org", "acme", "ci-bot"}).exit_code, 0);
  EXPECT_EQ(Run({"token", "verify", token}).exit_code, 1);
  ASSERT_EQ(Run({"sa", "enable", "--org", "acme", "ci-bot"}).exit_code, 0);
  EXPECT_EQ(Run({"token", "verify", token}).exit_code, 0);
  ASSERT_EQ(Run({"sa", "delete", "--org", "acme", "ci-bot"}).exit_code, 0);
  EXPECT_EQ(Run({"token", "verify", token}).exit_code, 1);
}

TEST_F(CliTest, ExpiresInSetsExpiry) {
  Init();
  CreateAccount("acme", "ci-bot");
  const absl::Time before = absl::Now();
  const Result r = Run({"--json", "token", "create", "--org", "acme",
                        "ci-bot", "short", "--scope", "read:*",
                        "--expires-in", "2d"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const json created = Json(r.out);
  absl::Time expires;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full,
                              created["expiresAt"].get<std::string>(),
                              &expires, &error))
      << error;
  EXPECT_GE(expires, before + absl::Hours(48));
  EXPECT_LE(expires, absl::Now() + absl::Hours(48));
  EXPECT_EQ(Run({"token", "create", "--org", "acme", "ci-bot", "m",
                 "--scope", "read:*", "--expires-in", "90m"})
                .exit_code,
            0);
}

TEST_F(CliTest, JsonOutputsParse) {
  Result r = Run({"--json", "init"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json init = Json(r.out);
  EXPECT_EQ(init["pepperCreated"], true);
  EXPECT_EQ(init["pepperFile"], pepper_file_);

  r = Run({"--json", "sa", "list", "--org", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out),
            json({{"items", json::array()}, {"nextCursor", nullptr}}));
  // --json is also accepted after the subcommand.
  r = Run({"sa", "list", "--org", "acme", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out),
            json({{"items", json::array()}, {"nextCursor", nullptr}}));

  CreateAccount("acme", "ci-bot");
  ASSERT_FALSE(CreateToken("acme", "ci-bot", "t",
                           {"--slug", "tt", "--scope", "read:tokens"})
                   .empty());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--json", "sa", "list", "--org", "acme"},
           {"--json", "sa", "get", "--org", "acme", "ci-bot"},
           {"--json", "token", "list", "--org", "acme", "ci-bot"},
           {"--json", "purge"},
           {"--json", "pepper", "rotate"},
           {"--json", "token", "revoke", "--org", "acme", "ci-bot", "tt"},
       }) {
    r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_TRUE(Json(r.out).is_object()) << r;
  }
  // Errors: a JSON object on stderr, nothing on stdout.
  r = Run({"--json", "sa", "create", "--org", "acme", "x", "--slug", "B@d"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.out, "");
  json error = Json(r.err);
  EXPECT_EQ(error["error"]["code"], "INVALID_ARGUMENT");
  ASSERT_EQ(error["error"]["fields"].size(), 1u);
  EXPECT_EQ(error["error"]["fields"][0]["field"], "slug");
  r = Run({"--json", "frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(Json(r.err)["error"]["code"], "USAGE");
}

TEST_F(CliTest, HelpWorksAtEveryLevel) {
  const std::vector<std::vector<std::string>> levels = {
      {},
      {"init"},
      {"pepper"},
      {"pepper", "rotate"},
      {"purge"},
      {"sa"},
      {"sa", "create"},
      {"sa", "list"},
      {"sa", "get"},
      {"sa", "rename"},
      {"sa", "disable"},
      {"sa", "enable"},
      {"sa", "delete"},
      {"token"},
      {"token", "create"},
      {"token", "list"},
      {"token", "revoke"},
      {"token", "verify"},
      {"jwt"},
      {"jwt", "mint"},
      {"serve"},
  };
  for (std::vector<std::string> args : levels) {
    args.push_back("--help");
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << r;
    EXPECT_THAT(r.out, HasSubstr("Exit codes: 0 success")) << r;
  }
  const Result r = Run({"--help"});
  for (const char* command : {"init", "sa", "token", "purge", "pepper"}) {
    EXPECT_THAT(r.out, HasSubstr(command));
  }
  EXPECT_THAT(Run({"token", "verify", "--help"}).out,
              HasSubstr("- to read it from stdin"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  Init();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"sa"},
           {"sa", "explode", "--org", "acme"},
           {"sa", "list"},                        // --org missing
           {"sa", "create", "--org", "acme"},     // NAME missing
           {"sa", "list", "--org", "acme", "--bogus"},
           {"sa", "list", "--org", "acme", "--limit", "0"},
           {"sa", "list", "--org", "acme", "--limit", "1001"},
           {"sa", "list", "--org", "acme", "--limit", "ten"},
           {"token", "verify"},
           {"token", "create", "--org", "acme", "sa", "n", "--expires-in",
            "soon"},
           {"token", "create", "--org", "acme", "sa", "n", "--expires-in",
            "-5h"},
           {"token", "create", "--org", "acme", "sa", "n", "--expires-in",
            "0s"},
           {"token", "create", "--org", "acme", "sa", "n", "--expires-in",
            "99999999d"},
       }) {
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_FALSE(r.signaled);
    EXPECT_THAT(r.err, StartsWith("keygate: ")) << r;
    EXPECT_THAT(r.err, Not(HasSubstr("terminate called")));
  }
  EXPECT_EQ(AccountCount("acme"), 0u);

  // A huge unexpected argument is not echoed in full.
  const Result r = Run({"sa", "list", "--org", "acme", std::string(100000, 'x')});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_LT(r.err.size(), 4096u);
}

TEST_F(CliTest, UsageErrorsNeverEchoATokenValue) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "tok");
  ASSERT_FALSE(token.empty());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"tokn", "verify", token},                    // typo in command
           {"token", "verify", token, "extra"},          // extra argument
           {"--json", "token", "verfy", token},
           {"token", "verify", "--scope", token, token},
       }) {
    const Result r = Run(args);
    EXPECT_NE(r.exit_code, 0) << r;
    EXPECT_THAT(r.err, Not(HasSubstr(token))) << r;
    EXPECT_THAT(r.out, Not(HasSubstr(token))) << r;
  }
}

TEST_F(CliTest, BadArgumentsAreRefusedAndWriteNothing) {
  Init();
  CreateAccount("acme", "ci-bot");
  // A single argv string is capped at 128 KiB by the kernel
  // (MAX_ARG_STRLEN), so "huge" here is 100 KiB; the 1 MiB case goes
  // through stdin below.
  const std::string huge(100 * 1024, 'a');
  const std::string bad_utf8 = "ab\xff\xfe";
  const std::string overlong = "\xc0\xaf";
  const std::string control = "a\x01\x1b[31mb";
  const std::string newline = "a\nb";

  struct Case {
    std::vector<std::string> args;
    std::string expected;  // in stderr
  };
  const std::vector<Case> sa_cases = {
      {{"sa", "create", "--org", "", "n"}, "organization"},
      {{"sa", "create", "--org", huge, "n"}, "organization"},
      {{"sa", "create", "--org", bad_utf8, "n"}, "organization"},
      {{"sa", "create", "--org", overlong, "n"}, "organization"},
      {{"sa", "create", "--org", control, "n"}, "organization"},
      {{"sa", "create", "--org", "acme", ""}, "name"},
      {{"sa", "create", "--org", "acme", huge}, "name"},
      {{"sa", "create", "--org", "acme", bad_utf8}, "name"},
      {{"sa", "create", "--org", "acme", control}, "name"},
      {{"sa", "create", "--org", "acme", newline}, "name"},
      {{"sa", "create", "--org", "acme", "n", "--slug", ""}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", "a"}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", "-ab"}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", "ab-"}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", "Ab"}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", "a_b"}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", std::string(101, 'a')},
       "slug"},
      {{"sa", "create", "--org", "acme", "n", "--slug", bad_utf8}, "slug"},
      {{"sa", "create", "--org", "acme", "n", "--actor", ""}, "actor"},
      {{"sa", "create", "--org", "acme", "n", "--actor", control}, "actor"},
      {{"sa", "create", "--org", "acme", "dup", "--slug", "ci-bot"},
       "slug"},  // conflict
  };
  for (const Case& c : sa_cases) {
    const Result r = Run(c.args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_FALSE(r.signaled);
    EXPECT_THAT(r.err, StartsWith("keygate: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(c.expected)) << r;
    EXPECT_EQ(r.out, "");
    // Control characters are never echoed to the terminal.
    EXPECT_THAT(r.err, Not(HasSubstr("\x1b"))) << r;
    EXPECT_LT(r.err.size(), 4096u) << "the error must not echo huge input";
  }
  EXPECT_EQ(AccountCount("acme"), 1u);

  const std::vector<Case> token_cases = {
      {{"token", "create", "--org", "acme", "ci-bot", "t", "--scope",
        "read:bogus"},
       "scopes[0]"},
      {{"token", "create", "--org", "acme", "ci-bot", "t", "--scope",
        "read:tokens", "--scope", "admin"},
       "scopes[1]"},
      {{"token", "create", "--org", "acme", "ci-bot", "t", "--scope",
        "delete:*"},
       "scopes"},
      {{"token", "create", "--org", "acme", "ci-bot", "t"}, "scopes"},
      {{"token", "create", "--org", "acme", "ci-bot", "", "--scope",
        "read:tokens"},
       "name"},
      {{"token", "create", "--org", "acme", "ci-bot", bad_utf8, "--scope",
        "read:tokens"},
       "name"},
      {{"token", "create", "--org", "acme", "ci-bot", "t", "--slug", "X",
        "--scope", "read:tokens"},
       "slug"},
      {{"token", "create", "--org", "acme", "nobody", "t", "--scope",
        "read:tokens"},
       "keygate: "},
      {{"token", "create", "--org", "other", "ci-bot", "t", "--scope",
        "read:tokens"},
       "keygate: "},
      {{"token", "list", "--org", "acme", "ci-bot", "--cursor", "garbage"},
       "cursor"},
      {{"token", "list", "--org", "acme", "ci-bot", "--cursor", bad_utf8},
       "cursor"},
      {{"token", "revoke", "--org", "acme", "ci-bot", huge}, "keygate: "},
      {{"token", "verify", "kg_x", "--scope", "bogus"}, "scope"},
  };
  for (const Case& c : token_cases) {
    const Result r = Run(c.args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_FALSE(r.signaled);
    EXPECT_THAT(r.err, StartsWith("keygate: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(c.expected)) << r;
    EXPECT_LT(r.err.size(), 4096u);
  }
  const Result list = Run({"--json", "token", "list", "--org", "acme",
                           "ci-bot"});
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_EQ(Json(list.out)["items"].size(), 0u);

  // Verify: garbage of every kind is just "invalid token".
  for (const std::string& bad :
       {std::string(""), std::string("kg_"), huge, bad_utf8, control,
        std::string("kg_") + std::string(50, '0')}) {
    const Result r = Run({"token", "verify", bad});
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_EQ(r.err, "keygate: invalid token\n") << r;
  }
  std::string one_mib(1 << 20, 'k');
  Result r = Run({"token", "verify", "-"}, one_mib);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "keygate: invalid token\n");
  one_mib[100] = '\0';  // NUL bytes can only arrive through stdin
  r = Run({"token", "verify", "-"}, one_mib);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "keygate: invalid token\n");
  r = Run({"token", "verify", "-"}, std::string(4 << 20, 'z'));  // > 1 MiB
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "keygate: invalid token\n");
  r = Run({"token", "verify", "-"}, std::string("kg_abc\0def", 10));
  EXPECT_EQ(r.exit_code, 1) << r;
}

TEST_F(CliTest, MissingPepperTellsToRunInit) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"sa", "list", "--org", "acme"},
           {"token", "verify", "kg_x"},
           {"purge"},
           {"pepper", "rotate"},
       }) {
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr("keygate init")) << r;
  }
  EXPECT_FALSE(std::filesystem::exists(pepper_file_));
}

TEST_F(CliTest, WrongPepperIsAClearOpenError) {
  Init();
  CreateAccount("acme", "ci-bot");
  std::filesystem::remove(pepper_file_);
  ASSERT_TRUE(Keyring::CreateFile(pepper_file_).ok());  // a different pepper
  const Result r = Run({"sa", "list", "--org", "acme"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("cannot open store"));
  EXPECT_FALSE(r.signaled);

  // A pepper file others can read is refused.
  ASSERT_EQ(chmod(pepper_file_.c_str(), 0644), 0);
  const Result r2 = Run({"sa", "list", "--org", "acme"});
  EXPECT_EQ(r2.exit_code, 1) << r2;
  EXPECT_THAT(r2.err, HasSubstr(pepper_file_));
}

TEST_F(CliTest, StoreHeldByAnotherProcessIsAClearError) {
  Init();
  CreateAccount("acme", "ci-bot");
  absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
      Keyring::Load(pepper_file_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  Options options;
  options.path = data_dir_;
  options.keyring = *keyring;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();

  // Writes need the store; read-only commands follow it instead (below).
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"sa", "create", "--org", "acme", "x"},
           {"sa", "rename", "--org", "acme", "ci-bot", "y"},
           {"token", "create", "--org", "acme", "ci-bot", "t", "--scope",
            "read:tokens"},
       }) {
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_FALSE(r.signaled);
    EXPECT_THAT(r.err, HasSubstr("in use")) << r;
    EXPECT_THAT(r.err, HasSubstr("keygate serve")) << r;
  }
  ASSERT_TRUE((*store)->Close().ok());
  EXPECT_EQ(AccountCount("acme"), 1u);  // works again once released
}

TEST_F(CliTest, PepperRotationKeepsOldTokensValid) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string old_token = CreateToken("acme", "ci-bot", "old");
  Result r = Run({"--json", "pepper", "rotate"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["activePepperId"], 2);
  const std::string new_token = CreateToken("acme", "ci-bot", "new");
  EXPECT_EQ(Run({"token", "verify", old_token}).exit_code, 0);
  EXPECT_EQ(Run({"token", "verify", new_token}).exit_code, 0);
}

TEST_F(CliTest, PurgeKeepsActiveTokens) {
  Init();
  CreateAccount("acme", "ci-bot");
  const std::string token = CreateToken("acme", "ci-bot", "t");
  const Result r = Run({"--json", "purge"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json(r.out)["tokensPurged"], 0);
  EXPECT_EQ(Run({"token", "verify", token}).exit_code, 0);
}

TEST_F(CliTest, ListPagination) {
  Init();
  for (const char* slug : {"aa", "bb", "cc"}) CreateAccount("acme", slug);
  Result r = Run({"--json", "sa", "list", "--org", "acme", "--limit", "2"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json page = Json(r.out);
  ASSERT_EQ(page["items"].size(), 2u);
  ASSERT_TRUE(page.contains("nextCursor"));
  r = Run({"--json", "sa", "list", "--org", "acme", "--limit", "2",
           "--cursor", page["nextCursor"].get<std::string>()});
  ASSERT_EQ(r.exit_code, 0) << r;
  page = Json(r.out);
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["slug"], "cc");
  EXPECT_TRUE(page["nextCursor"].is_null());
  r = Run({"sa", "list", "--org", "acme", "--limit", "2"});
  EXPECT_THAT(r.out, HasSubstr("--cursor"));
}

TEST_F(CliTest, ExtraScopeModules) {
  Init();
  CreateAccount("acme", "ci-bot");
  Result r = Run({"token", "create", "--org", "acme", "ci-bot", "b",
                  "--scope", "read:billing"});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"--scope-module", "billing", "token", "create", "--org", "acme",
           "ci-bot", "b", "--scope", "read:billing"});
  EXPECT_EQ(r.exit_code, 0) << r;
}

TEST_F(CliTest, JwtMintProducesAJwtServeAccepts) {
  const std::string secret_file = dir_ + "/jwt-secret";
  {
    std::ofstream out(secret_file);
    out << std::string(40, 's') << "\n";
  }
  // A secret others can read is refused, as `keygate serve` refuses it.
  ASSERT_EQ(chmod(secret_file.c_str(), 0644), 0);
  Result r = Run({"jwt", "mint", "--org", "acme", "--jwt-secret-file",
                  secret_file});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("chmod 600"));
  ASSERT_EQ(chmod(secret_file.c_str(), 0600), 0);
  r = Run({"jwt", "mint", "--org", "acme", "--sub", "alice",
           "--jwt-secret-file", secret_file, "--ttl", "10m"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string jwt = r.out;
  ASSERT_FALSE(jwt.empty());
  ASSERT_EQ(jwt.back(), '\n');
  jwt.pop_back();
  absl::StatusOr<http::JwtVerifier> verifier =
      http::JwtVerifier::FromSecretFile(secret_file);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::StatusOr<http::JwtClaims> claims = verifier->Verify(jwt, absl::Now());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->organization, "acme");
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_LE(claims->expires_at, absl::Now() + absl::Minutes(10));

  {
    std::ofstream out(secret_file);
    out << "short\n";
  }
  r = Run({"jwt", "mint", "--org", "acme", "--jwt-secret-file", secret_file});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"jwt", "mint", "--org", "acme", "--jwt-secret-file",
           dir_ + "/missing"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("missing"));
}


// CoreLimitOf returns the soft and hard "Max core file size" of process
// `pid` as /proc/<pid>/limits shows them ("0", "unlimited", a byte count),
// or {"", ""} if the line is missing.
std::pair<std::string, std::string> CoreLimitOf(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  constexpr char kLabel[] = "Max core file size";
  for (std::string line; std::getline(limits, line);) {
    if (!absl::StartsWith(line, kLabel)) continue;
    std::vector<std::string> fields = absl::StrSplit(
        line.substr(sizeof(kLabel) - 1), ' ', absl::SkipWhitespace());
    if (fields.size() >= 2) return {fields[0], fields[1]};
  }
  return {"", ""};
}

#if defined(__SANITIZE_ADDRESS__)
#define KEYGATE_CLI_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEYGATE_CLI_TEST_UNDER_ASAN 1
#endif
#endif

// CoreDumpTest runs `keygate serve` with RLIMIT_CORE preset to a non-zero
// soft = hard limit, and reads the limits the running server has.
class CoreDumpTest : public CliTest {
 protected:
  static constexpr rlim_t kPresetLimit = 1 << 20;

  void SetUp() override {
    CliTest::SetUp();
    struct rlimit limit;
    ASSERT_EQ(getrlimit(RLIMIT_CORE, &limit), 0);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < kPresetLimit) {
      GTEST_SKIP() << "RLIMIT_CORE hard limit too low here to tell apart";
    }
    Init();
    secret_file_ = dir_ + "/jwt-secret";
    std::ofstream(secret_file_) << std::string(40, 's') << "\n";
    ASSERT_EQ(chmod(secret_file_.c_str(), 0600), 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    CliTest::TearDown();
  }

  // StartServe runs `keygate <before...> serve ... <after...>` and waits
  // (at most 30 s) for its port file. Returns the pid, or -1 on failure.
  pid_t StartServe(const std::vector<std::string>& before,
                   const std::vector<std::string>& after = {}) {
    const std::string port_file = dir_ + "/port";
    unlink(port_file.c_str());
    std::vector<std::string> args = {KEYGATE_BINARY};
    args.insert(args.end(), before.begin(), before.end());
    for (const std::string& a :
         {std::string("serve"), std::string("--listen"),
          std::string("127.0.0.1:0"), std::string("--port-file"), port_file,
          std::string("--jwt-secret-file"), secret_file_}) {
      args.push_back(a);
    }
    args.insert(args.end(), after.begin(), after.end());
    std::vector<std::string> env = {"KEYGATE_DATA_DIR=" + data_dir_,
                                    "KEYGATE_PEPPER_FILE=" + pepper_file_,
                                    "USER=tester", "PATH=/usr/bin:/bin"};
#if KEYGATE_CLI_TEST_UNDER_ASAN
    // In an ASan build (the asan CI stage) the keygate binary carries ASan's
    // runtime, which by default (disable_coredump=1) lowers the soft
    // RLIMIT_CORE to 0 before keygate's main runs, so the limits read below
    // would be ASan's, not keygate's. The child gets the stage's options
    // (its environment is rebuilt here, so setting ASAN_OPTIONS for ctest
    // alone never reached it) plus disable_coredump=0; the expectations stay
    // exact. A core the server might dump is capped by kPresetLimit.
    const char* asan_options = std::getenv("ASAN_OPTIONS");
    env.push_back("ASAN_OPTIONS=" +
                  (asan_options != nullptr && *asan_options != '\0'
                       ? std::string(asan_options) + ":"
                       : std::string()) +
                  "disable_coredump=0");
#endif
    const std::string log = dir_ + "/serve.log";
    // Built before fork: the child only makes system calls until execve.
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const struct rlimit preset = {kPresetLimit, kPresetLimit};
      if (setrlimit(RLIMIT_CORE, &preset) != 0) _exit(125);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    for (int i = 0; i < 600; ++i) {
      std::ifstream in(port_file);
      std::string text((std::istreambuf_iterator<char>(in)), {});
      if (!text.empty() && text.back() == '\n') return pid_;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "serve exited early: " << ReadLog();
        return -1;
      }
      usleep(50 * 1000);
    }
    ADD_FAILURE() << "no port file after 30 s: " << ReadLog();
    return -1;
  }

  // StopServe terminates the server and expects a clean exit.
  void StopServe() {
    ASSERT_GT(pid_, 0);
    kill(pid_, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
    pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << status << " " << ReadLog();
  }

  std::string ReadLog() const {
    std::ifstream in(dir_ + "/serve.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  std::string secret_file_;
  pid_t pid_ = -1;
};

TEST_F(CoreDumpTest, ServeRunsWithCoreDumpsDisabled) {
  const pid_t pid = StartServe({});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(CoreLimitOf(pid), std::make_pair(std::string("0"),
                                             std::string("0")));
  StopServe();
}

TEST_F(CoreDumpTest, AllowCoreDumpsLeavesTheLimitAsItWas) {
  const std::string preset = std::to_string(kPresetLimit);
  // As a global flag before the subcommand ...
  pid_t pid = StartServe({"--allow-core-dumps"});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(CoreLimitOf(pid), std::make_pair(preset, preset));
  StopServe();
  // ... and after it, as every global flag may be.
  pid = StartServe({}, {"--allow-core-dumps"});
  ASSERT_GT(pid, 0);
  EXPECT_EQ(CoreLimitOf(pid), std::make_pair(preset, preset));
  StopServe();
}

TEST_F(CliTest, HelpListsAllowCoreDumps) {
  const Result r = Run({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("--allow-core-dumps"));
}

}  // namespace
}  // namespace keygate
