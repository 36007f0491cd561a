#include "lib/webhooks/delivery_payload.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace keygate::webhooks {
namespace {

// JsonWriter appends compact JSON; members are written in call order.
class JsonWriter {
 public:
  std::string Take() { return std::move(out_); }

  void BeginObject() {
    Separate();
    out_.push_back('{');
    first_ = true;
  }
  void EndObject() {
    out_.push_back('}');
    first_ = false;
  }
  void Key(std::string_view key) {
    Separate();
    AppendString(key);
    out_.push_back(':');
    first_ = true;  // the value needs no comma
  }
  void String(std::string_view value) {
    Separate();
    AppendString(value);
  }
  void Number(uint64_t value) {
    Separate();
    absl::StrAppend(&out_, value);
  }
  void Bool(bool value) {
    Separate();
    out_.append(value ? "true" : "false");
  }
  void Null() {
    Separate();
    out_.append("null");
  }
  void Time(absl::Time t) {
    String(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()));
  }
  void OptionalTime(const std::optional<absl::Time>& t) {
    if (t) {
      Time(*t);
    } else {
      Null();
    }
  }
  void StringOrNull(std::string_view value) {
    if (value.empty()) {
      Null();
    } else {
      String(value);
    }
  }
  void StringArray(const std::vector<std::string>& values) {
    Separate();
    out_.push_back('[');
    first_ = true;
    for (const std::string& v : values) String(v);
    out_.push_back(']');
    first_ = false;
  }

 private:
  void Separate() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  // AppendString writes a JSON string; the store keeps only valid UTF-8,
  // so bytes >= 0x80 pass through and only control characters, quote and
  // backslash are escaped.
  void AppendString(std::string_view s) {
    out_.push_back('"');
    for (unsigned char c : s) {
      switch (c) {
        case '"':
          out_.append("\\\"");
          break;
        case '\\':
          out_.append("\\\\");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\r':
          out_.append("\\r");
          break;
        case '\t':
          out_.append("\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            absl::StrAppendFormat(&out_, "\\u%04x", c);
          } else {
            out_.push_back(static_cast<char>(c));
          }
      }
    }
    out_.push_back('"');
  }

  std::string out_;
  bool first_ = true;
};

void WriteAccount(JsonWriter& w, const ServiceAccount& a) {
  w.BeginObject();
  w.Key("slug");
  w.String(a.slug);
  w.Key("name");
  w.String(a.name);
  w.Key("disabled");
  w.Bool(a.disabled);
  w.Key("createdAt");
  w.Time(a.created_at);
  w.Key("createdBy");
  w.String(a.created_by);
  w.Key("updatedAt");
  w.Time(a.updated_at);
  w.Key("updatedBy");
  w.String(a.updated_by);
  w.EndObject();
}

void WriteToken(JsonWriter& w, const TokenMetadata& t) {
  w.BeginObject();
  w.Key("serviceAccount");
  w.String(t.service_account);
  w.Key("slug");
  w.String(t.slug);
  w.Key("name");
  w.String(t.name);
  w.Key("scopes");
  w.StringArray(t.scopes);
  w.Key("expiresAt");
  w.OptionalTime(t.expires_at);
  w.Key("createdAt");
  w.Time(t.created_at);
  w.Key("createdBy");
  w.String(t.created_by);
  w.Key("revokedAt");
  w.OptionalTime(t.revoked_at);
  w.Key("revokedBy");
  w.StringOrNull(t.revoked_by);
  w.Key("rotatedTo");
  w.StringOrNull(t.rotated_to);
  w.Key("rotatedFrom");
  w.StringOrNull(t.rotated_from);
  w.Key("graceEndsAt");
  w.OptionalTime(t.grace_ends_at);
  w.EndObject();
}

void WriteEndpoint(JsonWriter& w, const WebhookEndpoint& e) {
  w.BeginObject();
  w.Key("id");
  w.String(e.id);
  w.Key("url");
  w.String(e.url);
  w.Key("description");
  w.String(e.description);
  w.Key("disabled");
  w.Bool(e.disabled);
  w.Key("updatedAt");
  w.Time(e.updated_at);
  w.Key("updatedBy");
  w.String(e.updated_by);
  w.EndObject();
}

}  // namespace

std::string DeliveryPayload(const Event& event) {
  JsonWriter w;
  w.BeginObject();
  w.Key("type");
  w.String(EventTypeName(event.type));
  w.Key("timestamp");
  w.Time(event.time);
  w.Key("data");
  w.BeginObject();
  w.Key("id");
  w.String(event.id);
  w.Key("position");
  w.Number(event.position);
  w.Key("organization");
  w.String(event.organization);
  w.Key("actor");
  w.String(event.actor);
  if (event.service_account) {
    w.Key("serviceAccount");
    WriteAccount(w, *event.service_account);
  }
  if (event.token) {
    w.Key("token");
    WriteToken(w, *event.token);
  }
  if (event.webhook_endpoint) {
    w.Key("webhookEndpoint");
    WriteEndpoint(w, *event.webhook_endpoint);
  }
  w.EndObject();
  w.EndObject();
  return w.Take();
}

}  // namespace keygate::webhooks
