// tools/keygate/http_listener.h: the event-driven HTTP/1.1 listener of
// `keygate serve`.
//
// HttpListener owns the socket side of the host: it accepts connections,
// reads each request with bounded head and body sizes under per-phase
// deadlines, hands the complete request to a handler on a worker pool, and
// writes the handler's Response back. Connections that are idle, reading or
// writing hold no worker thread: all socket I/O is asynchronous on one I/O
// thread (the thread that calls Run), so idle and slow clients never delay
// others. The handler (e.g. keygate::http's management API) never sees a
// socket. At max_connections, a new connection evicts the longest-idle one
// (as nginx does) and is refused only if every connection is busy.
//
// Errors the listener answers itself are RFC 9457 problems
// (application/problem+json) and close the connection:
//   400 malformed request (bad request line, field, framing, chunk), and
//       any HTTP version but 1.0 and 1.1
//   408 is never sent: a head or body deadline closes the connection
//   413 body larger than max_body_bytes (checked against Content-Length
//       before any body byte is read; chunked bodies as they arrive)
//   431 head larger than max_header_bytes or more than max_header_count
//       fields
//   500 the handler threw or returned an unusable response
#ifndef KEYGATE_TOOLS_KEYGATE_HTTP_LISTENER_H_
#define KEYGATE_TOOLS_KEYGATE_HTTP_LISTENER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/http/message.h"

namespace keygate::tool {
namespace internal {
class ListenerCore;
}  // namespace internal

// HttpListenerOptions bounds what one client may make the listener hold.
// Durations are clamped to [1 ms, 24 h]; a count of 0 allows nothing (0
// connections is taken as 1).
struct HttpListenerOptions {
  // Largest accepted request body (after de-chunking). A Content-Length above
  // it is answered 413 before the body is read; a chunked body is cut with a
  // 413 when it passes it. Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
  // Largest request head: request line plus every field line (names, values
  // and line ends). Larger heads are answered 431. Default: 16 KiB.
  size_t max_header_bytes = 16 * 1024;
  // Most header fields in one request. More are answered 431. Default: 100.
  size_t max_header_count = 100;
  // Deadline for a whole request head, from its first byte to its blank
  // line; not reset by progress, so a client trickling bytes is cut at it.
  // On expiry the connection is closed. Default: 10 s.
  absl::Duration head_timeout = absl::Seconds(10);
  // Deadline for reading a whole request body, from the end of its head.
  // On expiry the connection is closed. Default: 30 s.
  absl::Duration body_timeout = absl::Seconds(30);
  // How long a connection may wait for the first byte of a request: of its
  // first one after the connection opens, and of each next one on a
  // keep-alive connection. On expiry the connection is closed. Default: 30 s.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Deadline for writing one whole response (and an interim 100 Continue).
  // On expiry the connection is closed. Default: 30 s.
  absl::Duration write_timeout = absl::Seconds(30);
  // Most connections open at once. A connection accepted at the cap evicts
  // (closes) the open connection that has been idle longest, i.e. waiting
  // for a request's first byte (a new connection that has sent nothing, or
  // a keep-alive one between requests); a connection reading a request,
  // in the handler or writing is never evicted. If none is idle, the new
  // connection is closed at once, before any byte is read. So silent
  // connections cannot lock out new clients. Default: 1024.
  size_t max_connections = 1024;
  // Handler worker threads. Default: 0, meaning
  // std::thread::hardware_concurrency() (at least 1).
  int threads = 0;
  // Receives one line per request and one per listener error, without a
  // trailing newline; calls are serialized. Lines never carry a header
  // value, a query, a body or a method the listener does not know.
  // Default: empty, meaning stderr.
  std::function<void(std::string_view)> log;
};

// HttpHandler answers one complete request. It runs on a worker thread and
// may block (e.g. on storage); several calls may run at once. It may append
// " key=value" fields (route=..., auth_failure="...") to *log_fields, which
// the listener adds to the request's log line; they must never carry a
// secret or a header value. It must not throw: an exception is caught,
// logged as "error: exception in handler" and answered with a 500 problem.
// A response whose status is outside 200-599, or whose headers are not
// valid field names and values, is answered with a 500 problem too. The
// listener itself sets Content-Length, Connection and Transfer-Encoding;
// the handler's fields with those names are dropped, except that
// "Connection: close" closes the connection after the response.
using HttpHandler =
    std::function<http::Response(const http::Request&, std::string* log_fields)>;

// HttpListener is an HTTP/1.1 server on one listening socket. Construct,
// Bind, then Run on one thread; Stop may be called from any thread at any
// time (idempotent; a Stop before Run makes Run return at once). Bind and
// Run must not be called concurrently with each other. The destructor must
// not run while Run is running.
//
// Per request it logs `request method=<M> status=<N> duration_us=<D>` plus
// the handler's log fields, where M is the method if it is one of GET,
// HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH and `-` otherwise,
// and D runs from the request's first byte to its response being written.
// After an error answer or a "Connection: close", the listener shuts down
// its sending side and discards what the client still sends for up to 2 s,
// so the client can read the answer before the connection closes.
// A response with Response::sensitive set has its body bytes wiped once
// written; every request's bytes (read buffer, header values, body) are
// wiped once answered.
class HttpListener {
 public:
  HttpListener(HttpHandler handler, HttpListenerOptions options);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Bind opens a listening socket on `host` (an IP address or a name that
  // resolves to one) and `port`; port 0 picks a free port. Returns the bound
  // port; Unavailable if the address cannot be resolved or bound;
  // FailedPrecondition if already bound.
  absl::StatusOr<int> Bind(const std::string& host, int port);

  // Run serves connections on the calling thread until Stop(), then returns
  // once every request already handed to the handler has been answered.
  // Returns FailedPrecondition if Bind has not succeeded (and Stop was not
  // called), OK otherwise. Run serves at most once.
  absl::Status Run();

  // Stop stops accepting, closes connections that are idle or still reading
  // a request, lets requests already handed to the handler finish and be
  // answered (then closes their connections), and makes Run return. Does
  // not wait for Run. Thread-safe and idempotent.
  void Stop();

 private:
  std::unique_ptr<internal::ListenerCore> impl_;
};

}  // namespace keygate::tool

#endif  // KEYGATE_TOOLS_KEYGATE_HTTP_LISTENER_H_
