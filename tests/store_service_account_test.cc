// Tests of the service-account half of keygate::Store: create (given and
// derived slugs), slug and name rules, get, list with pagination, rename,
// disable/enable, UpdateServiceAccount (both in one write) and delete,
// including their effect on Verify.
#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "lib/storage/tables.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::HasFieldError;
using test::IsValidSlug;

class ServiceAccountTest : public test::StoreTest {
 protected:
  // RecordsWrittenBy returns how many RocksDB sequence numbers `operation`
  // consumes, i.e. how many records it puts or deletes: the store is closed
  // around it and the database read directly, then reopened. One record
  // written twice counts two.
  template <typename Operation>
  uint64_t RecordsWrittenBy(Operation operation) {
    EXPECT_TRUE(Reopen().ok());
    const uint64_t before = LatestSequence();
    EXPECT_TRUE(Reopen().ok());
    operation();
    const uint64_t after = LatestSequence();
    EXPECT_TRUE(Reopen().ok());
    return after - before;
  }

  // LatestSequence closes the store and reads the database's last sequence
  // number (the store stays closed).
  uint64_t LatestSequence() {
    if (store_ != nullptr) {
      EXPECT_TRUE(store_->Close().ok());
      store_.reset();
    }
    std::vector<std::string> names;
    rocksdb::DBOptions options;
    EXPECT_TRUE(
        rocksdb::DB::ListColumnFamilies(options, StorePath(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, StorePath(),
                                                     families, &handles, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    const uint64_t sequence = db->GetLatestSequenceNumber();
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      (void)db->DestroyColumnFamilyHandle(handle);
    }
    delete db;
    return sequence;
  }
};

TEST_F(ServiceAccountTest, CreateWithGivenSlugReturnsStoredAccount) {
  ServiceAccountSpec spec;
  spec.name = "Deploy Bot";
  spec.slug = "deploy-bot";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  EXPECT_EQ(account.organization, kOrg);
  EXPECT_EQ(account.slug, "deploy-bot");
  EXPECT_EQ(account.name, "Deploy Bot");
  EXPECT_FALSE(account.disabled);
  EXPECT_EQ(account.created_at, clock_.Now());
  EXPECT_EQ(account.created_by, kActor);

  clock_.Advance(absl::Minutes(5));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "deploy-bot"));
  EXPECT_EQ(got.organization, kOrg);
  EXPECT_EQ(got.slug, "deploy-bot");
  EXPECT_EQ(got.name, "Deploy Bot");
  EXPECT_FALSE(got.disabled);
  EXPECT_EQ(got.created_at, account.created_at);
  EXPECT_EQ(got.created_by, kActor);
}

// A new account has not been updated yet: updated_at/by equal created_at/by.
// (Not spelled out by the header; see the report's ambiguities.)
TEST_F(ServiceAccountTest, NewAccountUpdatedFieldsEqualCreated) {
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount account, CreateAccount("fresh"));
  EXPECT_EQ(account.updated_at, account.created_at);
  EXPECT_EQ(account.updated_by, account.created_by);
}

TEST_F(ServiceAccountTest, DerivedSlugIsSlugifiedNamePlusSuffix) {
  ServiceAccountSpec spec;
  spec.name = "My Deploy Bot";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount a,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount b,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  for (const ServiceAccount* acc : {&a, &b}) {
    EXPECT_TRUE(IsValidSlug(acc->slug)) << acc->slug;
    EXPECT_TRUE(acc->slug.starts_with("my-deploy-bot-")) << acc->slug;
    // A short suffix, not a second copy of the name.
    EXPECT_GT(acc->slug.size(), std::string("my-deploy-bot-").size());
    EXPECT_LE(acc->slug.size(), std::string("my-deploy-bot-").size() + 16)
        << acc->slug;
    EXPECT_EQ(acc->name, "My Deploy Bot");
  }
  EXPECT_NE(a.slug, b.slug) << "same name must still give distinct slugs";
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, a.slug));
  KG_EXPECT_OK(store_->GetServiceAccount(kOrg, b.slug));
}

TEST_F(ServiceAccountTest, DerivedSlugIsValidForAwkwardNames) {
  const std::vector<std::string> names = {
      "日本語のボット",  // no ASCII letters at all
      "!!!",             // only punctuation
      "  --Leading and trailing--  ",
      "UPPER_case.with.dots",
      std::string(200, 'x'),  // longest name: slug must stay <= 100
      "a",
  };
  for (const std::string& name : names) {
    ServiceAccountSpec spec;
    spec.name = name;
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    ASSERT_TRUE(account.ok()) << name << ": " << account.status();
    EXPECT_TRUE(IsValidSlug(account->slug))
        << "name " << name << " -> slug " << account->slug;
    EXPECT_EQ(account->name, name);
  }
}

TEST_F(ServiceAccountTest, ValidSlugEdgeCasesAccepted) {
  const std::vector<std::string> slugs = {"ab",
                                          "a1",
                                          "0-9",
                                          "a--b",
                                          std::string(100, 'z'),
                                          "x" + std::string(98, '-') + "y"};
  for (const std::string& slug : slugs) {
    auto account = CreateAccount(slug);
    ASSERT_TRUE(account.ok()) << slug << ": " << account.status();
    EXPECT_EQ(account->slug, slug);
    KG_EXPECT_OK(store_->GetServiceAccount(kOrg, slug));
  }
}

TEST_F(ServiceAccountTest, InvalidSlugsRejectedNamingSlug) {
  const std::vector<std::string> slugs = {
      "",
      "a",                    // 1 char
      std::string(101, 'a'),  // 101 chars
      "Abc",                  // uppercase
      "ABC",
      "-ab",  // leading '-'
      "ab-",  // trailing '-'
      "-",
      "--",
      "a_b",  // '_'
      "a b",
      "a.b",
      "\xc3\xa4-b",  // unicode (a-umlaut)
      "ab\n",
      std::string("a\0b", 3),
  };
  for (size_t i = 0; i < slugs.size(); ++i) {
    ServiceAccountSpec spec;
    spec.name = "Bad slug";
    spec.slug = slugs[i];
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    ASSERT_FALSE(account.ok()) << "slug #" << i << " accepted";
    EXPECT_EQ(account.status().code(), absl::StatusCode::kInvalidArgument)
        << "slug #" << i << ": " << account.status();
    EXPECT_TRUE(HasFieldError(account.status(), "slug"))
        << "slug #" << i << ": " << test::DescribeFieldErrors(account.status());
  }
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts());
  EXPECT_TRUE(all.empty()) << "invalid creates must write nothing";
}

TEST_F(ServiceAccountTest, PathStyleSlugArgumentsNamedServiceAccountSlug) {
  KG_ASSERT_OK(CreateAccount("real"));
  for (const std::string& bad : {std::string("A"), std::string("-x-"),
                                 std::string(101, 'a'), std::string("a_b")}) {
    auto get = store_->GetServiceAccount(kOrg, bad);
    EXPECT_EQ(get.status().code(), absl::StatusCode::kInvalidArgument)
        << bad << ": " << get.status();
    EXPECT_TRUE(HasFieldError(get.status(), "serviceAccountSlug"))
        << bad << ": " << test::DescribeFieldErrors(get.status());

    auto rename = store_->RenameServiceAccount(kOrg, bad, "n", kActor);
    EXPECT_EQ(rename.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(rename.status(), "serviceAccountSlug"));

    auto disable = store_->SetServiceAccountDisabled(kOrg, bad, true, kActor);
    EXPECT_EQ(disable.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(disable.status(), "serviceAccountSlug"));

    absl::Status del = store_->DeleteServiceAccount(kOrg, bad, kActor);
    EXPECT_EQ(del.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasFieldError(del, "serviceAccountSlug"));
  }
}

TEST_F(ServiceAccountTest, NameRules) {
  for (const std::string& bad :
       {std::string(), std::string(201, 'n'), std::string("tab\there"),
        std::string("nul\0byte", 8), std::string("\xff\xfe")}) {
    ServiceAccountSpec spec;
    spec.name = bad;
    spec.slug = "name-rules";
    auto account = store_->CreateServiceAccount(kOrg, spec, kActor);
    EXPECT_EQ(account.status().code(), absl::StatusCode::kInvalidArgument)
        << account.status();
    EXPECT_TRUE(HasFieldError(account.status(), "name"))
        << test::DescribeFieldErrors(account.status());
  }
  // Boundaries that are valid: 1 byte, 200 bytes, non-ASCII UTF-8.
  ServiceAccountSpec spec;
  spec.name = std::string(200, 'n');
  spec.slug = "name-200";
  KG_EXPECT_OK(store_->CreateServiceAccount(kOrg, spec, kActor));
  spec.name = "n";
  spec.slug = "name-1";
  KG_EXPECT_OK(store_->CreateServiceAccount(kOrg, spec, kActor));
  spec.name = "Café bot 🤖";
  spec.slug = "name-utf8";
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount a,
                          store_->CreateServiceAccount(kOrg, spec, kActor));
  EXPECT_EQ(a.name, "Café bot 🤖");
}

TEST_F(ServiceAccountTest, DuplicateSlugIsAlreadyExistsNamingSlug) {
  KG_ASSERT_OK(CreateAccount("dup"));
  ServiceAccountSpec spec;
  spec.name = "Another name";
  spec.slug = "dup";
  auto second = store_->CreateServiceAccount(kOrg, spec, kActor);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists)
      << second.status();
  EXPECT_TRUE(HasFieldError(second.status(), "slug"))
      << test::DescribeFieldErrors(second.status());
  // The first account is unchanged.
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "dup"));
  EXPECT_EQ(got.name, "Account dup");
}

TEST_F(ServiceAccountTest, GetUnknownIsNotFound) {
  auto got = store_->GetServiceAccount(kOrg, "nope");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
}

TEST_F(ServiceAccountTest, ListOrderedBySlugAcrossPages) {
  // Insert in a scrambled order.
  std::vector<std::string> slugs;
  for (int i = 0; i < 23; ++i) {
    slugs.push_back("acct-" + std::to_string((i * 7) % 23 + 10));
  }
  for (const std::string& s : slugs) KG_ASSERT_OK(CreateAccount(s));
  std::vector<std::string> expected = slugs;
  std::sort(expected.begin(), expected.end());

  PageRequest page;
  page.limit = 5;
  std::vector<std::string> seen;
  int pages = 0;
  for (; pages < 100; ++pages) {
    KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                            store_->ListServiceAccounts(kOrg, page));
    EXPECT_LE(p.items.size(), 5u);
    for (const ServiceAccount& a : p.items) {
      EXPECT_EQ(a.organization, kOrg);
      seen.push_back(a.slug);
    }
    if (p.next_cursor.empty()) break;
    page.cursor = p.next_cursor;
  }
  EXPECT_EQ(seen, expected);  // sorted, no duplicates, nothing missing
  EXPECT_EQ(pages + 1, 5);    // 5+5+5+5+3

  // One page with everything.
  PageRequest all;
  all.limit = PageRequest::kMaxLimit;
  KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                          store_->ListServiceAccounts(kOrg, all));
  EXPECT_EQ(p.items.size(), expected.size());
  EXPECT_TRUE(p.next_cursor.empty());
}

TEST_F(ServiceAccountTest, ListEmptyOrganization) {
  KG_ASSERT_OK_AND_ASSIGN(Page<ServiceAccount> p,
                          store_->ListServiceAccounts(kOrg, PageRequest{}));
  EXPECT_TRUE(p.items.empty());
  EXPECT_TRUE(p.next_cursor.empty());
}

TEST_F(ServiceAccountTest, ListLimitOneWalksEverything) {
  for (const char* s : {"c1", "a1", "b1"}) KG_ASSERT_OK(CreateAccount(s));
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts(kOrg, 1));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].slug, "a1");
  EXPECT_EQ(all[1].slug, "b1");
  EXPECT_EQ(all[2].slug, "c1");
}

TEST_F(ServiceAccountTest, ListRejectsGarbageCursor) {
  KG_ASSERT_OK(CreateAccount("one"));
  for (const std::string& cursor :
       {std::string("garbage"), std::string("\xff\x00\x01", 3),
        std::string(1 << 20, 'c'), std::string("====")}) {
    PageRequest page;
    page.cursor = cursor;
    auto p = store_->ListServiceAccounts(kOrg, page);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
        << p.status();
    EXPECT_TRUE(HasFieldError(p.status(), "cursor"))
        << test::DescribeFieldErrors(p.status());
  }
}

TEST_F(ServiceAccountTest, ListRejectsBadLimit) {
  for (size_t limit : {size_t{0}, PageRequest::kMaxLimit + 1,
                       std::numeric_limits<size_t>::max()}) {
    PageRequest page;
    page.limit = limit;
    auto p = store_->ListServiceAccounts(kOrg, page);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
        << "limit " << limit << ": " << p.status();
    EXPECT_TRUE(HasFieldError(p.status(), "limit"))
        << test::DescribeFieldErrors(p.status());
  }
}

TEST_F(ServiceAccountTest, Rename) {
  KG_ASSERT_OK(CreateAccount("renamed"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("renamed", "tok"));
  clock_.Advance(absl::Hours(1));
  KG_ASSERT_OK_AND_ASSIGN(
      ServiceAccount a,
      store_->RenameServiceAccount(kOrg, "renamed", "New Name", "user:bob"));
  EXPECT_EQ(a.slug, "renamed");
  EXPECT_EQ(a.name, "New Name");
  EXPECT_EQ(a.updated_at, clock_.Now());
  EXPECT_EQ(a.updated_by, "user:bob");
  EXPECT_EQ(a.created_by, kActor);
  EXPECT_LT(a.created_at, a.updated_at);

  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "renamed"));
  EXPECT_EQ(got.name, "New Name");
  EXPECT_EQ(got.updated_by, "user:bob");
  // Tokens are unaffected.
  KG_EXPECT_OK(store_->Verify(token.value.view()));

  auto bad = store_->RenameServiceAccount(kOrg, "renamed", "", kActor);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(bad.status(), "name"));
  KG_ASSERT_OK_AND_ASSIGN(got, store_->GetServiceAccount(kOrg, "renamed"));
  EXPECT_EQ(got.name, "New Name");

  auto missing = store_->RenameServiceAccount(kOrg, "missing", "x", kActor);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceAccountTest, DisableFailsAllTokensEnableRestores) {
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK(CreateAccount("other"));
  std::vector<CreatedToken> tokens;
  for (int i = 0; i < 3; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken t,
                            CreateToken("svc", "t" + std::to_string(i)));
    tokens.push_back(std::move(t));
  }
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other, CreateToken("other", "t0"));

  clock_.Advance(absl::Seconds(10));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount a, store_->SetServiceAccountDisabled(
                                                kOrg, "svc", true, "user:bob"));
  EXPECT_TRUE(a.disabled);
  EXPECT_EQ(a.updated_by, "user:bob");
  EXPECT_EQ(a.updated_at, clock_.Now());
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_TRUE(got.disabled);

  for (size_t i = 0; i < tokens.size(); ++i) {
    auto v = store_->Verify(tokens[i].value.view());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated)
        << "token #" << i << ": " << v.status();
    EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kAccountDisabled)
        << "token #" << i;
    // With a scope the answer is still "invalid token", not a scope error.
    auto vs = store_->Verify(tokens[i].value.view(), "read:tokens");
    EXPECT_EQ(VerifyFailureOf(vs.status()), VerifyFailure::kAccountDisabled);
  }
  // Another account of the same organization is unaffected.
  KG_EXPECT_OK(store_->Verify(other.value.view()));
  // Disabling does not revoke: the tokens are still listed as not revoked.
  KG_ASSERT_OK_AND_ASSIGN(auto listed, AllTokens("svc"));
  ASSERT_EQ(listed.size(), 3u);
  for (const TokenMetadata& m : listed) EXPECT_FALSE(m.revoked());

  KG_ASSERT_OK_AND_ASSIGN(
      a, store_->SetServiceAccountDisabled(kOrg, "svc", false, kActor));
  EXPECT_FALSE(a.disabled);
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto v = store_->Verify(tokens[i].value.view());
    EXPECT_TRUE(v.ok()) << "token #" << i << ": " << v.status();
  }

  auto missing =
      store_->SetServiceAccountDisabled(kOrg, "missing", true, kActor);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceAccountTest, DeleteStopsTokensAndRemovesAccount) {
  KG_ASSERT_OK(CreateAccount("doomed"));
  KG_ASSERT_OK(CreateAccount("keeper"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t1, CreateToken("doomed", "t1"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t2,
                          CreateToken("doomed", "t2", {"write:*"}));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken keep, CreateToken("keeper", "t1"));
  KG_ASSERT_OK(store_->RevokeToken(kOrg, "doomed", t2.metadata.slug, kActor));

  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "doomed", kActor));

  for (const CreatedToken* t : {&t1, &t2}) {
    auto v = store_->Verify(t->value.view());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated);
    // Deleted tokens no longer exist at all.
    EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kUnknown)
        << VerifyFailureName(VerifyFailureOf(v.status()));
  }
  KG_EXPECT_OK(store_->Verify(keep.value.view()));

  EXPECT_EQ(store_->GetServiceAccount(kOrg, "doomed").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(AllTokens("doomed").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteServiceAccount(kOrg, "doomed", kActor).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CreateToken("doomed", "t3").status().code(),
            absl::StatusCode::kNotFound);
  KG_ASSERT_OK_AND_ASSIGN(auto all, AllAccounts());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].slug, "keeper");

  // The slug can be reused; the old tokens stay dead and the new account
  // starts with no tokens.
  KG_ASSERT_OK(CreateAccount("doomed"));
  KG_ASSERT_OK_AND_ASSIGN(auto tokens, AllTokens("doomed"));
  EXPECT_TRUE(tokens.empty());
  EXPECT_FALSE(store_->Verify(t1.value.view()).ok());
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken again, CreateToken("doomed", "t1"));
  KG_EXPECT_OK(store_->Verify(again.value.view()));
  EXPECT_FALSE(store_->Verify(t1.value.view()).ok());
}

TEST_F(ServiceAccountTest, UpdateRenamesAndDisablesTogether) {
  KG_ASSERT_OK(CreateAccount("svc"));
  KG_ASSERT_OK(CreateAccount("other"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("svc", "t"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken other, CreateToken("other", "t"));
  clock_.Advance(absl::Minutes(3));

  ServiceAccountPatch patch;
  patch.name = "Renamed and off";
  patch.disabled = true;
  KG_ASSERT_OK_AND_ASSIGN(
      ServiceAccount a,
      store_->UpdateServiceAccount(kOrg, "svc", patch, "user:bob"));
  EXPECT_EQ(a.organization, kOrg);
  EXPECT_EQ(a.slug, "svc");
  EXPECT_EQ(a.name, "Renamed and off");
  EXPECT_TRUE(a.disabled);
  EXPECT_EQ(a.updated_at, clock_.Now());
  EXPECT_EQ(a.updated_by, "user:bob");
  EXPECT_EQ(a.created_by, kActor);

  // The index is updated before the call returns.
  auto v = store_->Verify(token.value.view());
  EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kAccountDisabled)
      << v.status();
  KG_EXPECT_OK(store_->Verify(other.value.view()));

  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_EQ(got.name, "Renamed and off");
  EXPECT_TRUE(got.disabled);
  EXPECT_EQ(got.updated_at, a.updated_at);

  // Enabling alone keeps the name and makes the tokens verify again.
  ServiceAccountPatch enable;
  enable.disabled = false;
  KG_ASSERT_OK_AND_ASSIGN(
      a, store_->UpdateServiceAccount(kOrg, "svc", enable, kActor));
  EXPECT_FALSE(a.disabled);
  EXPECT_EQ(a.name, "Renamed and off");
  KG_EXPECT_OK(store_->Verify(token.value.view()));

  // Both changes survive a reopen.
  KG_ASSERT_OK(store_->UpdateServiceAccount(kOrg, "svc", patch, kActor));
  KG_ASSERT_OK(Reopen());
  KG_ASSERT_OK_AND_ASSIGN(got, store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_EQ(got.name, "Renamed and off");
  EXPECT_TRUE(got.disabled);
  EXPECT_EQ(VerifyFailureOf(store_->Verify(token.value.view()).status()),
            VerifyFailure::kAccountDisabled);
}

// Rename and disable are one record written once: PATCH with both fields is
// one atomic write, not two.
TEST_F(ServiceAccountTest, UpdateWithBothFieldsWritesOneRecord) {
  SKIP_IF_POSTGRES("counts RocksDB sequence numbers");
  KG_ASSERT_OK(CreateAccount("svc"));
  ServiceAccountPatch patch;
  patch.name = "New";
  patch.disabled = true;
  EXPECT_EQ(RecordsWrittenBy([&] {
              KG_EXPECT_OK(
                  store_->UpdateServiceAccount(kOrg, "svc", patch, kActor));
            }),
            2u);  // the account record and its change-log record
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_EQ(got.name, "New");
  EXPECT_TRUE(got.disabled);

  // The two-call way (rename, then disable) writes twice: the measure tells.
  EXPECT_EQ(RecordsWrittenBy([&] {
              KG_EXPECT_OK(
                  store_->RenameServiceAccount(kOrg, "svc", "Again", kActor));
              KG_EXPECT_OK(store_->SetServiceAccountDisabled(kOrg, "svc",
                                                             false, kActor));
            }),
            4u);  // two batches of (account record, change-log record)
}

TEST_F(ServiceAccountTest, UpdateWithEmptyPatchChangesNothing) {
  SKIP_IF_POSTGRES("counts RocksDB sequence numbers");
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount created, CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("svc", "t"));
  clock_.Advance(absl::Hours(1));
  ServiceAccount returned;
  EXPECT_EQ(RecordsWrittenBy([&] {
              absl::StatusOr<ServiceAccount> a = store_->UpdateServiceAccount(
                  kOrg, "svc", ServiceAccountPatch{}, "user:bob");
              KG_EXPECT_OK(a);
              if (a.ok()) returned = *a;
            }),
            0u);
  EXPECT_EQ(returned.organization, kOrg);
  EXPECT_EQ(returned.slug, "svc");
  EXPECT_EQ(returned.name, created.name);
  EXPECT_FALSE(returned.disabled);
  EXPECT_EQ(returned.updated_at, created.updated_at);
  EXPECT_EQ(returned.updated_by, created.updated_by);
  KG_EXPECT_OK(store_->Verify(token.value.view()));

  // An empty patch still names an account: absent is NotFound.
  EXPECT_EQ(store_->UpdateServiceAccount(kOrg, "missing", {}, kActor)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServiceAccountTest, UpdateWithBadNameChangesNothing) {
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount created, CreateAccount("svc"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken token, CreateToken("svc", "t"));
  clock_.Advance(absl::Hours(1));
  for (const std::string& bad :
       {std::string(), std::string("   "), std::string(201, 'n'),
        std::string("bad\xff"), std::string("line\nbreak"),
        std::string("nul\0inside", 10)}) {
    ServiceAccountPatch patch;
    patch.name = bad;
    patch.disabled = true;  // must not be applied either
    auto result = store_->UpdateServiceAccount(kOrg, "svc", patch, kActor);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << result.status();
    EXPECT_TRUE(HasFieldError(result.status(), "name"))
        << test::DescribeFieldErrors(result.status());
  }
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_EQ(got.name, created.name);
  EXPECT_FALSE(got.disabled);
  EXPECT_EQ(got.updated_at, created.updated_at);
  KG_EXPECT_OK(store_->Verify(token.value.view()));
}

TEST_F(ServiceAccountTest, UpdateRejectsBadIdentifiersNamingEach) {
  KG_ASSERT_OK(CreateAccount("svc"));
  ServiceAccountPatch patch;
  patch.disabled = true;
  auto result = store_->UpdateServiceAccount("", "Not A Slug", patch, "");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(test::FieldNames(result.status()),
            (std::vector<std::string>{"organization", "serviceAccountSlug",
                                      "actor"}));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "svc"));
  EXPECT_FALSE(got.disabled);
}

// Another organization's account reads exactly like an absent one, and is
// left alone.
TEST_F(ServiceAccountTest, UpdateOfAnotherOrganizationsAccountIsNotFound) {
  KG_ASSERT_OK(CreateAccount("svc", "org-other"));
  ServiceAccountPatch patch;
  patch.name = "Hijacked";
  patch.disabled = true;
  auto theirs = store_->UpdateServiceAccount(kOrg, "svc", patch, kActor);
  auto absent = store_->UpdateServiceAccount(kOrg, "nobody", patch, kActor);
  EXPECT_EQ(theirs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(theirs.status(), absent.status());
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount("org-other", "svc"));
  EXPECT_EQ(got.name, "Account svc");
  EXPECT_FALSE(got.disabled);
}

TEST_F(ServiceAccountTest, DeleteUnknownIsNotFound) {
  EXPECT_EQ(store_->DeleteServiceAccount(kOrg, "ghost", kActor).code(),
            absl::StatusCode::kNotFound);
}

// What CreateServiceAccount/Rename return is what Get returns, even with a
// clock of sub-microsecond precision (absl::Now() has one).
TEST_F(ServiceAccountTest, TimestampsRoundTripExactly) {
  clock_.Set(test::ManualClock::DefaultStart() + absl::Nanoseconds(123456789));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount created, CreateAccount("precise"));
  KG_ASSERT_OK_AND_ASSIGN(ServiceAccount got,
                          store_->GetServiceAccount(kOrg, "precise"));
  EXPECT_EQ(got.created_at, created.created_at)
      << absl::FormatTime(got.created_at) << " vs "
      << absl::FormatTime(created.created_at);
  EXPECT_EQ(got.updated_at, created.updated_at);
}

// A token whose account row is gone (deleted outside the store API, or a
// store damaged by hand) is loaded at open as belonging to a deleted
// account: it never verifies. Verify's "account deleted" check is what
// refuses it; DeleteServiceAccount alone cannot show that check, since it
// also erases the tokens from the index.
TEST_F(ServiceAccountTest, TokenWhoseAccountRowIsMissingNeverVerifies) {
  SKIP_IF_POSTGRES("edits the RocksDB directory through storage::Tables::Open");
  KG_ASSERT_OK(CreateAccount("orphaned"));
  KG_ASSERT_OK_AND_ASSIGN(CreatedToken t, CreateToken("orphaned", "t"));
  KG_ASSERT_OK(store_->Verify(t.value.view()));
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  {
    KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Tables> tables,
                            storage::Tables::Open(StorePath(), false));
    storage::Batch batch;
    tables->DeleteAccount(batch, kOrg, "orphaned");
    KG_ASSERT_OK(tables->Write(batch, true));
    KG_ASSERT_OK(tables->Close());
  }
  KG_ASSERT_OK(Reopen());
  auto v = store_->Verify(t.value.view());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyFailureOf(v.status()), VerifyFailure::kUnknown)
      << VerifyFailureName(VerifyFailureOf(v.status()));
  EXPECT_FALSE(store_->Verify(t.value.view(), "read:tokens").ok());
}

}  // namespace
}  // namespace keygate
