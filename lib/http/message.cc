// lib/http/message.cc: framework-neutral HTTP request and response values.
#include "keygate/http/message.h"

#include <sodium.h>

#include <utility>

namespace keygate::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

size_t Request::HeaderCount(std::string_view name) const {
  size_t count = 0;
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) ++count;
  }
  return count;
}

std::optional<std::string_view> Request::FindHeader(
    std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

Response::Response(Response&& other) noexcept { *this = std::move(other); }

Response& Response::operator=(Response&& other) noexcept {
  if (this != &other) {
    if (sensitive) WipeBody();
    status = other.status;
    headers = std::move(other.headers);
    sensitive = other.sensitive;
    if (other.sensitive) {
      // Moving a short string copies its inline bytes and leaves them behind
      // in `other`: copy, then wipe the source while its size still covers
      // every byte.
      body = other.body;
      other.WipeBody();
    } else {
      body = std::move(other.body);
    }
    other.sensitive = false;
  }
  return *this;
}

Response::~Response() {
  if (sensitive) WipeBody();
}

std::optional<std::string_view> Response::FindHeader(
    std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

void Response::SetHeader(std::string_view name, std::string_view value) {
  std::erase_if(headers,
                [&](const Header& h) { return EqualsIgnoreCase(h.name, name); });
  headers.push_back({std::string(name), std::string(value)});
}

void Response::WipeBody() {
  if (!body.empty()) sodium_memzero(body.data(), body.size());
  body.clear();
}

}  // namespace keygate::http
