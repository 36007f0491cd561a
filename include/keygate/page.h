// keygate/page.h: keyset pagination for list calls.
#ifndef KEYGATE_PAGE_H_
#define KEYGATE_PAGE_H_

#include <cstddef>
#include <string>
#include <vector>

namespace keygate {

// PageRequest asks for one page of a list.
struct PageRequest {
  static constexpr size_t kMaxLimit = 1000;
  // Maximum number of items, 1..kMaxLimit. Default: 100.
  size_t limit = 100;
  // Opaque cursor from a previous Page::next_cursor; empty for the first page.
  // A cursor is only valid for the list it came from.
  std::string cursor;
};

// Page is one page of results; `next_cursor` is empty on the last page.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;
};

}  // namespace keygate

#endif  // KEYGATE_PAGE_H_
