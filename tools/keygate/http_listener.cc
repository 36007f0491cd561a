// tools/keygate/http_listener.cc: the event-driven HTTP/1.1 listener of
// `keygate serve` (Boost.Beast's parser, Boost.Asio sockets).
//
// Threads: one I/O thread (the caller of Run) runs every socket operation,
// timer and connection state change; each connection's handlers run on its
// own strand. A complete request is posted to a worker pool (asio
// thread_pool), and the handler's response is posted back to the
// connection's strand. So a connection holds a worker only while its
// handler runs.
#include "tools/keygate/http_listener.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "keygate/http/problem.h"
#include "lib/base/absl_view.h"

namespace keygate::tool {
namespace internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;
using SteadyDuration = std::chrono::steady_clock::duration;

// After an answer that closes the connection, how long the client's further
// bytes are read and discarded before the socket is closed (closing with
// unread bytes would send a RST that can destroy the answer in flight).
constexpr SteadyDuration kLingerTimeout = std::chrono::seconds(2);
// How long to wait before accepting again after accept failed (e.g.
// EMFILE), so a persistent failure does not spin the I/O thread.
constexpr SteadyDuration kAcceptRetryDelay = std::chrono::milliseconds(50);
// The read buffer may hold this much beyond max_header_bytes, so the
// parser reports the head limit (431) before the buffer overflows.
constexpr size_t kReadBufferSlack = 4096;
// Size of the read that waits for a request's first bytes.
constexpr size_t kFirstReadBytes = 4096;
// Size of the scratch buffer that discards bytes while lingering.
constexpr size_t kDiscardBytes = 16384;

constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kInternalErrorDetail = "An internal error occurred.";

// Methods printed verbatim in the log; any other method is logged as "-".
constexpr std::string_view kKnownMethods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
    "PATCH"};

std::string_view LogMethod(std::string_view method) {
  for (std::string_view known : kKnownMethods) {
    if (method == known) return known;
  }
  return "-";
}

SteadyDuration ClampDuration(absl::Duration d) {
  d = std::clamp(d, absl::Milliseconds(1), absl::Hours(24));
  return std::chrono::duration_cast<SteadyDuration>(
      absl::ToChronoNanoseconds(d));
}

void WipeString(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// WipeRequest overwrites every byte a request carried (its Authorization
// field holds a credential).
void WipeRequest(http::Request& request) {
  WipeString(request.method);
  WipeString(request.target);
  for (http::Header& header : request.headers) {
    WipeString(header.name);
    WipeString(header.value);
  }
  request.headers.clear();
  WipeString(request.body);
}

bool IsTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// IsValidFieldName: a non-empty RFC 9110 token of at most 256 bytes.
bool IsValidFieldName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return IsTokenChar(static_cast<unsigned char>(c));
  });
}

// IsValidFieldValue: at most 8 KiB, no control byte but HTAB (so no CR/LF
// response splitting and no NUL).
bool IsValidFieldValue(std::string_view value) {
  if (value.size() > 8192) return false;
  return std::all_of(value.begin(), value.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

bool ContainsCloseToken(std::string_view value) {
  std::string lower(value);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower.find("close") != std::string::npos;
}

// SanitizeLogFields replaces control bytes, so a handler's log fields cannot
// forge a log line.
void SanitizeLogFields(std::string& fields) {
  for (char& ch : fields) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) ch = '?';
  }
}

http::Response ProblemResponse(int status, std::string_view detail) {
  http::Problem problem = http::HttpProblem(status, detail);
  http::Response response;
  response.status = problem.status;
  for (auto& [name, value] : problem.headers) {
    response.headers.push_back({std::move(name), std::move(value)});
  }
  response.body = http::ProblemToJson(problem);
  return response;
}

// RequestParser builds an http::Request straight from Beast's parser
// callbacks, bounding the head by bytes and by field count as it is parsed.
// Trailer fields of a chunked body are dropped (a trailer must not add,
// say, an Authorization field after the head was read).
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  // Why the head was refused with error::header_limit.
  enum class HeadRefusal { kNone, kTooLarge, kTooManyFields };

  explicit RequestParser(const HttpListenerOptions& options)
      : max_header_bytes_(options.max_header_bytes),
        max_header_count_(options.max_header_count),
        max_body_bytes_(options.max_body_bytes) {
    header_limit(static_cast<std::uint32_t>(std::min<size_t>(
        max_header_bytes_, std::numeric_limits<std::uint32_t>::max())));
    body_limit(static_cast<std::uint64_t>(max_body_bytes_));
  }

  http::Request& request() { return request_; }
  int version() const { return version_; }
  bool expects_continue() const { return expects_continue_; }
  HeadRefusal refusal() const { return refusal_; }
  // The method for the log: a known method, or "-" (also before parsing).
  std::string_view log_method() const { return log_method_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method,
                       beast::string_view target, int version,
                       error_code& ec) override {
    std::string_view m(method.data(), method.size());
    log_method_ = LogMethod(m);
    version_ = version;  // Beast refuses any version but 1.0 and 1.1
    // request-line = method SP request-target SP HTTP-version CRLF
    head_bytes_ = method.size() + 1 + target.size() + 1 + 8 + 2;
    if (head_bytes_ > max_header_bytes_) {
      refusal_ = HeadRefusal::kTooLarge;
      ec = bhttp::error::header_limit;
      return;
    }
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
  }

  void on_response_impl(int, beast::string_view, int,
                        error_code& ec) override {
    ec = bhttp::error::bad_version;  // never called for a request parser
  }

  void on_field_impl(bhttp::field name, beast::string_view name_string,
                     beast::string_view value, error_code& ec) override {
    if (header_done_) return;  // a trailer field: dropped
    if (request_.headers.size() >= max_header_count_) {
      refusal_ = HeadRefusal::kTooManyFields;
      ec = bhttp::error::header_limit;
      return;
    }
    // field-line = field-name ":" OWS field-value OWS CRLF
    head_bytes_ += name_string.size() + 2 + value.size() + 2;
    if (head_bytes_ > max_header_bytes_) {
      refusal_ = HeadRefusal::kTooLarge;
      ec = bhttp::error::header_limit;
      return;
    }
    if (name == bhttp::field::transfer_encoding) has_transfer_encoding_ = true;
    if (name == bhttp::field::expect &&
        http::EqualsIgnoreCase(std::string_view(value.data(), value.size()),
                               "100-continue")) {
      expects_continue_ = true;
    }
    request_.headers.push_back(
        {std::string(name_string.data(), name_string.size()),
         std::string(value.data(), value.size())});
  }

  void on_header_impl(error_code& ec) override {
    header_done_ = true;
    // RFC 9112 6.3: a Transfer-Encoding that does not end in chunked leaves
    // the body length unknown. Beast would read the request as bodiless and
    // parse its body as the next request, which a proxy framing it otherwise
    // never sent (request smuggling): refuse it (400, close).
    if (has_transfer_encoding_ && !chunked()) {
      ec = bhttp::error::bad_transfer_encoding;
    }
  }

  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                         error_code&) override {
    // Beast already refused a Content-Length above the body limit.
    if (content_length) {
      request_.body.reserve(static_cast<size_t>(
          std::min<std::uint64_t>(*content_length, max_body_bytes_)));
    }
  }

  size_t on_body_impl(beast::string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view,
                            error_code&) override {}

  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                            error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  const size_t max_header_bytes_;
  const size_t max_header_count_;
  const size_t max_body_bytes_;
  http::Request request_;
  size_t head_bytes_ = 0;
  int version_ = 11;
  bool header_done_ = false;
  bool has_transfer_encoding_ = false;
  bool expects_continue_ = false;
  HeadRefusal refusal_ = HeadRefusal::kNone;
  std::string_view log_method_ = "-";
};

// HandlerJob is one request on its way through the worker pool and back.
struct HandlerJob {
  http::Request request;
  http::Response response;
  std::string log_fields;
};

class Session;

}  // namespace

// ListenerCore is HttpListener's state. Sessions point at it; it outlives
// them (Run returns only once every session is gone).
class ListenerCore {
 public:
  ListenerCore(HttpHandler handler, HttpListenerOptions options)
      : handler_(std::move(handler)),
        options_(std::move(options)),
        head_timeout_(ClampDuration(options_.head_timeout)),
        body_timeout_(ClampDuration(options_.body_timeout)),
        idle_timeout_(ClampDuration(options_.idle_timeout)),
        write_timeout_(ClampDuration(options_.write_timeout)),
        acceptor_(ioc_),
        accept_retry_timer_(ioc_) {
    options_.max_connections = std::max<size_t>(1, options_.max_connections);
    if (options_.threads <= 0) {
      options_.threads = static_cast<int>(
          std::max(1u, std::thread::hardware_concurrency()));
    }
  }

  absl::StatusOr<int> Bind(const std::string& host, int port);
  absl::Status Run();
  void Stop();

  // Log writes one line to the sink; calls are serialized.
  void Log(std::string_view line) ABSL_LOCKS_EXCLUDED(log_mu_) {
    absl::MutexLock lock(&log_mu_);
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()),
                   line.data());
    }
  }

  // RunHandler calls the handler for `job` on a worker thread, turning an
  // exception into a 500 problem, then wipes the request.
  void RunHandler(HandlerJob& job) {
    try {
      job.response = handler_(job.request, &job.log_fields);
    } catch (...) {
      Log("error: exception in handler");
      job.response = ProblemResponse(500, kInternalErrorDetail);
      job.log_fields += " error=handler_exception";
    }
    WipeRequest(job.request);
  }

  // Unregister forgets a session that is being destroyed.
  void Unregister(Session* session) ABSL_LOCKS_EXCLUDED(sessions_mu_) {
    absl::MutexLock lock(&sessions_mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    if (it->second.idle) idle_.erase(*it->second.idle);
    if (it->second.evicted) --evicted_;
    sessions_.erase(it);
  }

  // MarkIdle records that `session` waits for a request's first byte, so it
  // may be evicted (closed) to make room for a new connection at the cap.
  void MarkIdle(Session* session) ABSL_LOCKS_EXCLUDED(sessions_mu_) {
    absl::MutexLock lock(&sessions_mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.idle || it->second.evicted) return;
    it->second.idle = idle_.insert(idle_.end(), session);
  }

  // MarkBusy records that `session` got a request's first bytes. Returns
  // false if it was already evicted: the caller must close it then.
  bool MarkBusy(Session* session) ABSL_LOCKS_EXCLUDED(sessions_mu_) {
    absl::MutexLock lock(&sessions_mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.evicted) return false;
    if (it->second.idle) {
      idle_.erase(*it->second.idle);
      it->second.idle.reset();
    }
    return true;
  }

  const HttpListenerOptions& options() const { return options_; }
  SteadyDuration head_timeout() const { return head_timeout_; }
  SteadyDuration body_timeout() const { return body_timeout_; }
  SteadyDuration idle_timeout() const { return idle_timeout_; }
  SteadyDuration write_timeout() const { return write_timeout_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  asio::io_context& io_context() { return ioc_; }
  asio::thread_pool& pool() { return *pool_; }

 private:
  void DoAccept();
  void OnAccept(error_code ec, tcp::socket socket);
  // Shutdown runs on the I/O thread after Stop: closes the acceptor and
  // tells every session.
  void Shutdown() ABSL_LOCKS_EXCLUDED(sessions_mu_);

  const HttpHandler handler_;
  HttpListenerOptions options_;
  const SteadyDuration head_timeout_;
  const SteadyDuration body_timeout_;
  const SteadyDuration idle_timeout_;
  const SteadyDuration write_timeout_;

  absl::Mutex log_mu_;

  // SessionEntry is what the core knows of one open connection.
  struct SessionEntry {
    std::weak_ptr<Session> session;
    // Set while the session waits for a request's first byte: its place in
    // idle_.
    std::optional<std::list<Session*>::iterator> idle;
    // Chosen for eviction: it is closing and no longer counts against
    // max_connections.
    bool evicted = false;
  };

  absl::Mutex sessions_mu_;
  std::unordered_map<Session*, SessionEntry> sessions_
      ABSL_GUARDED_BY(sessions_mu_);
  // Idle sessions, longest idle first.
  std::list<Session*> idle_ ABSL_GUARDED_BY(sessions_mu_);
  // Entries of sessions_ with evicted set.
  size_t evicted_ ABSL_GUARDED_BY(sessions_mu_) = 0;

  absl::Mutex state_mu_;
  bool stop_requested_ ABSL_GUARDED_BY(state_mu_) = false;
  bool bound_ ABSL_GUARDED_BY(state_mu_) = false;
  bool ran_ ABSL_GUARDED_BY(state_mu_) = false;
  std::atomic<bool> stopping_{false};

  // Touched only on the I/O thread.
  std::chrono::steady_clock::time_point last_refusal_log_{};
  size_t refused_since_log_ = 0;
  size_t evicted_since_log_ = 0;
  std::chrono::steady_clock::time_point last_accept_failure_log_{};
  size_t accept_failures_since_log_ = 0;

  // Declared last: destroyed first, before the state sessions touch.
  std::optional<asio::thread_pool> pool_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
};

namespace {

// Session is one client connection: it reads requests one at a time, has
// each answered on the worker pool, and writes the answers in order. All of
// its members are touched only on its strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ListenerCore* core, tcp::socket socket)
      : core_(core),
        stream_(std::move(socket)),
        buffer_(std::min<size_t>(core->options().max_header_bytes,
                                 size_t{1} << 30) +
                kReadBufferSlack) {}

  ~Session() {
    WipeReadBuffer();
    core_->Unregister(this);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void Start() { WaitForRequest(); }

  // OnStop closes the connection unless a request is with the handler or
  // its answer is being written (those close once written).
  void OnStop() {
    stop_seen_ = true;
    if (phase_ != Phase::kHandling && phase_ != Phase::kWriting) Close();
  }

  // OnEvicted closes the connection, which the core evicted while it waited
  // for a request's first byte (it cannot have become busy since: MarkBusy
  // fails for an evicted session).
  void OnEvicted() { Close(); }

 private:
  enum class Phase { kIdle, kHead, kBody, kHandling, kWriting, kClosing };

  void WaitForRequest() {
    if (stop_seen_ || core_->stopping()) return Close();
    parser_.emplace(core_->options());
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) return ReadHead();  // a pipelined request
    core_->MarkIdle(this);
    stream_.expires_after(core_->idle_timeout());
    size_t n = std::min(kFirstReadBytes, buffer_.max_size());
    stream_.async_read_some(
        buffer_.prepare(n),
        [self = shared_from_this()](error_code ec, size_t bytes) {
          self->OnFirstBytes(ec, bytes);
        });
  }

  void OnFirstBytes(error_code ec, size_t bytes) {
    if (ec) return Close();  // idle timeout, peer gone, Stop or eviction
    buffer_.commit(bytes);
    if (!core_->MarkBusy(this)) return Close();  // evicted meanwhile
    ReadHead();
  }

  void ReadHead() {
    phase_ = Phase::kHead;
    request_start_ = std::chrono::steady_clock::now();
    // One deadline for the whole head: progress does not extend it.
    stream_.expires_after(core_->head_timeout());
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, size_t) {
          self->OnHead(ec);
        });
  }

  void OnHead(error_code ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    if (parser_->expects_continue() && parser_->version() == 11) {
      phase_ = Phase::kBody;
      stream_.expires_after(core_->write_timeout());
      asio::async_write(
          stream_, asio::buffer(kContinueResponse.data(),
                                kContinueResponse.size()),
          [self = shared_from_this()](error_code ec, size_t) {
            if (ec || self->phase_ == Phase::kClosing) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    phase_ = Phase::kBody;
    stream_.expires_after(core_->body_timeout());
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (ec) return self->OnReadError(ec);
                        self->Dispatch();
                      });
  }

  // OnReadError answers a request the listener refuses, or closes the
  // connection when there is nobody to answer.
  void OnReadError(error_code ec) {
    const bool in_body = phase_ == Phase::kBody;
    if (phase_ == Phase::kClosing) return Close();  // Stop closed it
    if (ec == beast::error::timeout) {
      core_->Log(in_body ? "error: request body timed out; connection closed"
                         : "error: request head timed out; connection closed");
      return Close();
    }
    if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method)
                             .category() ||
        ec == bhttp::error::end_of_stream ||
        ec == bhttp::error::partial_message) {
      return Close();  // the peer went away, or a socket error
    }
    using Refusal = RequestParser::HeadRefusal;
    if (ec == bhttp::error::header_limit ||
        (ec == bhttp::error::buffer_overflow && !in_body)) {
      bool too_many = parser_->refusal() == Refusal::kTooManyFields;
      return Refuse(431,
                    too_many ? "too many request header fields"
                             : "request header fields too large",
                    too_many ? " error=too_many_headers"
                             : " error=header_too_large");
    }
    if (ec == bhttp::error::body_limit ||
        ec == bhttp::error::buffer_overflow) {
      return Refuse(413,
                    absl::StrCat("request body larger than ",
                                 core_->options().max_body_bytes, " bytes"),
                    " error=body_too_large");
    }
    Refuse(400, "malformed request", " error=malformed");
  }

  void Refuse(int status, std::string_view detail,
              std::string_view log_fields) {
    close_after_write_ = true;
    Write(ProblemResponse(status, detail), std::string(log_fields));
  }

  // Dispatch hands the complete request to the worker pool. The connection
  // reads nothing more until the answer is written.
  void Dispatch() {
    phase_ = Phase::kHandling;
    stream_.expires_never();
    close_after_write_ = !parser_->keep_alive();
    head_request_ = parser_->request().method == "HEAD";
    auto job = std::make_shared<HandlerJob>();
    job->request = std::move(parser_->request());
    // Keeps Run's io_context alive while the handler runs.
    auto work = asio::prefer(core_->io_context().get_executor(),
                             asio::execution::outstanding_work.tracked);
    asio::post(core_->pool(), [self = shared_from_this(), job = std::move(job),
                               ex = executor(), work]() mutable {
      self->core_->RunHandler(*job);
      // Hand every reference back, so the session never dies on a worker.
      asio::post(ex, [self = std::move(self), job = std::move(job)] {
        self->OnHandled(*job);
      });
    });
  }

  void OnHandled(HandlerJob& job) {
    if (stop_seen_ || core_->stopping()) close_after_write_ = true;
    Write(std::move(job.response), std::move(job.log_fields));
  }

  // Write sends `response` with framing added; an unusable one becomes a
  // 500 problem.
  void Write(http::Response response, std::string log_fields) {
    bool valid = response.status >= 200 && response.status <= 599;
    for (const http::Header& h : response.headers) {
      valid = valid && IsValidFieldName(h.name) && IsValidFieldValue(h.value);
    }
    if (!valid) {
      core_->Log("error: handler returned an invalid response");
      response = ProblemResponse(500, kInternalErrorDetail);
      log_fields += " error=invalid_response";
    }
    const int status = response.status;
    std::string head = absl::StrCat("HTTP/1.1 ", status, " ",
                                    AbslView(http::HttpStatusTitle(status)), "\r\n");
    for (const http::Header& h : response.headers) {
      if (http::EqualsIgnoreCase(h.name, "Content-Length") ||
          http::EqualsIgnoreCase(h.name, "Transfer-Encoding")) {
        continue;
      }
      if (http::EqualsIgnoreCase(h.name, "Connection")) {
        if (ContainsCloseToken(h.value)) close_after_write_ = true;
        continue;
      }
      absl::StrAppend(&head, h.name, ": ", h.value, "\r\n");
    }
    const bool no_content = status == 204 || status == 304;
    if (!no_content) {
      absl::StrAppend(&head, "Content-Length: ", response.body.size(), "\r\n");
    }
    if (close_after_write_) {
      head += "Connection: close\r\n";
    } else if (parser_->version() == 10) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";

    out_head_ = std::move(head);
    out_sensitive_ = response.sensitive;
    if (!no_content && !head_request_) {
      if (response.sensitive) {
        // Copied, not moved: a moved short (inline) string leaves its bytes
        // behind where WipeBody cannot see them. The original is wiped
        // below, the copy once written.
        out_body_.assign(response.body);
      } else {
        out_body_ = std::move(response.body);
      }
    }
    if (response.sensitive) response.WipeBody();
    out_status_ = status;
    out_log_fields_ = std::move(log_fields);
    SanitizeLogFields(out_log_fields_);

    phase_ = Phase::kWriting;
    stream_.expires_after(core_->write_timeout());
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(out_head_), asio::buffer(out_body_)};
    asio::async_write(stream_, buffers,
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->OnWritten(ec);
                      });
  }

  void OnWritten(error_code ec) {
    if (out_sensitive_) {
      WipeString(out_body_);
    } else {
      std::string().swap(out_body_);
    }
    out_sensitive_ = false;
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - request_start_)
                      .count();
    std::string line = absl::StrCat(
        "request method=", AbslView(parser_->log_method()),
        " status=", out_status_,
        " duration_us=", micros, out_log_fields_);
    if (ec) {
      line += ec == beast::error::timeout ? " error=write_timeout"
                                          : " error=write_failed";
    }
    core_->Log(line);
    if (ec) return Close();
    if (close_after_write_) return Linger();
    WipeReadBuffer();
    WaitForRequest();
  }

  // Linger half-closes the connection and discards what the client still
  // sends, until it closes too or kLingerTimeout passes.
  void Linger() {
    phase_ = Phase::kClosing;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    if (!discard_) discard_ = std::make_unique<char[]>(kDiscardBytes);
    Discard();
  }

  void Discard() {
    stream_.async_read_some(
        asio::buffer(discard_.get(), kDiscardBytes),
        [self = shared_from_this()](error_code ec, size_t) {
          if (ec) return self->Close();
          self->Discard();
        });
  }

  void Close() {
    phase_ = Phase::kClosing;
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // WipeReadBuffer zeroes the whole read buffer (the bytes of requests
  // already parsed stay in it otherwise), keeping pipelined bytes.
  void WipeReadBuffer() {
    if (buffer_.capacity() == 0) return;
    std::string pipelined;
    if (buffer_.size() > 0) pipelined = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    auto all = buffer_.prepare(buffer_.capacity());
    sodium_memzero(all.data(), all.size());
    if (!pipelined.empty()) {
      auto out = buffer_.prepare(pipelined.size());
      std::memcpy(out.data(), pipelined.data(), pipelined.size());
      buffer_.commit(pipelined.size());
      WipeString(pipelined);
    }
  }

  ListenerCore* const core_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Phase phase_ = Phase::kIdle;
  bool stop_seen_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  bool head_request_ = false;
  std::chrono::steady_clock::time_point request_start_{};
  std::string out_head_;
  std::string out_body_;
  bool out_sensitive_ = false;
  int out_status_ = 0;
  std::string out_log_fields_;
  std::unique_ptr<char[]> discard_;
};

}  // namespace

absl::StatusOr<int> ListenerCore::Bind(const std::string& host, int port) {
  absl::MutexLock lock(&state_mu_);
  if (bound_) return absl::FailedPreconditionError("listener already bound");
  auto unavailable = [&](const error_code& ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": ", ec.message()));
  };
  if (port < 0 || port > 65535) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": bad port"));
  }
  error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(host, std::to_string(port),
                                  tcp::resolver::passive |
                                      tcp::resolver::numeric_service,
                                  ec);
  if (ec) return unavailable(ec);
  if (results.empty()) return unavailable(asio::error::host_not_found);
  for (const auto& entry : results) {
    tcp::endpoint endpoint = entry.endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) continue;
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      bound_ = true;
      return static_cast<int>(acceptor_.local_endpoint().port());
    }
    error_code ignored;
    acceptor_.close(ignored);
  }
  return unavailable(ec);
}

absl::Status ListenerCore::Run() {
  {
    absl::MutexLock lock(&state_mu_);
    if (stop_requested_) return absl::OkStatus();
    if (!bound_) return absl::FailedPreconditionError("listener not bound");
    if (ran_) return absl::FailedPreconditionError("listener already ran");
    ran_ = true;
    pool_.emplace(static_cast<size_t>(options_.threads));
    DoAccept();
  }
  // Returns once nothing is left to do: the acceptor closed (Stop), every
  // session gone, no handler running.
  for (;;) {
    try {
      ioc_.run();
      break;
    } catch (...) {
      Log("error: unexpected exception in the listener's I/O loop");
    }
  }
  pool_->join();
  return absl::OkStatus();
}

void ListenerCore::Stop() {
  {
    absl::MutexLock lock(&state_mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
  }
  stopping_.store(true, std::memory_order_release);
  asio::post(ioc_, [this] { Shutdown(); });
}

void ListenerCore::Shutdown() {
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    absl::MutexLock lock(&sessions_mu_);
    for (auto& [raw, entry] : sessions_) {
      if (auto session = entry.session.lock()) {
        live.push_back(std::move(session));
      }
    }
  }
  for (auto& session : live) {
    asio::post(session->executor(), [session] { session->OnStop(); });
  }
}

void ListenerCore::DoAccept() {
  acceptor_.async_accept(asio::make_strand(ioc_),
                         [this](error_code ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void ListenerCore::OnAccept(error_code ec, tcp::socket socket) {
  if (stopping()) {
    error_code ignored;
    socket.close(ignored);
    return;
  }
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of descriptors, accept fails at every retry: log at most once a
    // second, so a connection flood cannot flood the log too.
    ++accept_failures_since_log_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_accept_failure_log_ >= std::chrono::seconds(1)) {
      Log(absl::StrCat("error: accept failed: ", ec.message(), " (",
                       accept_failures_since_log_, " time(s))"));
      last_accept_failure_log_ = now;
      accept_failures_since_log_ = 0;
    }
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([this](error_code wait_ec) {
      if (!wait_ec && !stopping()) DoAccept();
    });
    return;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<Session> session;
  std::shared_ptr<Session> victim;
  bool evicted = false;
  {
    absl::MutexLock lock(&sessions_mu_);
    bool room = sessions_.size() - evicted_ < options_.max_connections;
    if (!room && !idle_.empty()) {
      // At the cap: evict the longest-idle connection (as nginx does), so
      // silent connections cannot lock out new clients until idle_timeout.
      // A connection busy with a request is never evicted.
      Session* oldest = idle_.front();
      idle_.pop_front();
      SessionEntry& entry = sessions_.at(oldest);
      entry.idle.reset();
      entry.evicted = true;
      ++evicted_;
      victim = entry.session.lock();  // null: it is being destroyed anyway
      room = evicted = true;
    }
    if (room) {
      session = std::make_shared<Session>(this, std::move(socket));
      sessions_.emplace(session.get(), SessionEntry{session, std::nullopt});
    }
  }
  if (victim) {
    asio::post(victim->executor(), [victim] { victim->OnEvicted(); });
  }
  if (session) {
    asio::dispatch(session->executor(), [session] { session->Start(); });
  } else {
    socket.close(ignored);
    ++refused_since_log_;
  }
  if (evicted) ++evicted_since_log_;
  if (refused_since_log_ + evicted_since_log_ > 0) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log_ >= std::chrono::seconds(1)) {
      Log(absl::StrCat("error: connection limit (", options_.max_connections,
                       ") reached; closed ", evicted_since_log_,
                       " idle connection(s), refused ", refused_since_log_,
                       " new connection(s)"));
      last_refusal_log_ = now;
      refused_since_log_ = 0;
      evicted_since_log_ = 0;
    }
  }
  DoAccept();
}

}  // namespace internal

HttpListener::HttpListener(HttpHandler handler, HttpListenerOptions options)
    : impl_(std::make_unique<internal::ListenerCore>(std::move(handler),
                                                     std::move(options))) {}

HttpListener::~HttpListener() { Stop(); }

absl::StatusOr<int> HttpListener::Bind(const std::string& host, int port) {
  return impl_->Bind(host, port);
}

absl::Status HttpListener::Run() { return impl_->Run(); }

void HttpListener::Stop() { impl_->Stop(); }

}  // namespace keygate::tool
