/* sock - socket set-up helpers: listen, connect with timeout, address
 * parsing and formatting, and the one-byte wakeup trigger.
 *
 * Contract:
 * - Functions that can fail return -1 (or a negative count) and put a
 *   one-line reason naming the object into `err` (reset first); err may be
 *   NULL. They never log and never exit: the caller decides severity.
 * - Every fd returned is close-on-exec (master clears the flag on the fds it
 *   passes to children). Listening sockets are non-blocking, so a process
 *   that loses the accept() race to a sibling gets EAGAIN instead of hanging.
 *   Connected sockets are returned in blocking mode (stream.h never relies on
 *   the flag).
 * - Timeouts are in milliseconds; < 0 means wait forever. A connect never
 *   waits longer than its timeout in total, over all addresses tried. Name
 *   resolution (getaddrinfo) is outside the timeout: the system resolver's
 *   own limits apply, so pass numeric addresses where that matters.
 * - Service specs: "port", "host:port", "[v6addr]:port", "[v4addr]:port",
 *   ":port" (host empty = all addresses); port is a number 0..65535 or a service name
 *   looked up with getservbyname(name, "tcp") ("smtp" = 25). Hosts and
 *   service names are bounded in length and limited to harmless characters,
 *   so a hostile string is rejected rather than passed to the resolver.
 * - Peer names are printed the Postfix way: "name[addr]", "unknown[addr]"
 *   without a verified name, IPv4-mapped IPv6 shown as plain IPv4.
 * - Triggers (qmgr/pickup wake-ups: "W", "I", "D", "A", "F") go to a FIFO or
 *   a UNIX stream socket and never block the sender: no reader, no listener,
 *   a full backlog or a full pipe is an immediate or timeout-bounded failure.
 */
#ifndef MTA_SOCK_H
#define MTA_SOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "strbuf.h"

/* Longest host name (RFC 1035) and service name we accept in a spec. */
#define SOCK_HOST_MAX 255
#define SOCK_SERVICE_MAX 64

int sock_set_cloexec(int fd, bool on);
int sock_set_nonblock(int fd, bool on);

/* UNIX-domain stream listener at path: removes a stale socket (never any
 * other kind of file), binds, chmods to mode, listens. Returns the fd. */
int sock_unix_listen(const char *path, mode_t mode, int backlog, strbuf *err);
/* Connect to a UNIX-domain stream socket. A full backlog is retried until
 * the timeout; a missing socket or no listener fails at once. */
int sock_unix_connect(const char *path, int timeout_ms, strbuf *err);
/* The same, but the fd is left non-blocking (as it was connected), for a
 * caller that only does I/O that never depends on the mode (stream.h): a
 * UNIX-domain connect completes or fails at once, so switching to blocking
 * would only cost an fcntl pair. */
int sock_unix_connect_nonblock(const char *path, int timeout_ms, strbuf *err);
/* Join dir + "/" + name, checking it fits in sockaddr_un.sun_path. */
int sock_unix_path(const char *dir, const char *name, strbuf *path, strbuf *err);

/* Split a service spec (see above). host is set to the bare host ("" for
 * all addresses, brackets removed), *port to the number. */
int sock_parse_hostport(const char *spec, strbuf *host, unsigned *port, strbuf *err);
/* Just the port part: number or service name. */
int sock_parse_port(const char *service, unsigned *port, strbuf *err);

/* TCP listener(s) for a spec. family is AF_UNSPEC, AF_INET or AF_INET6 (the
 * inet_protocols setting). An empty host listens on every address of each
 * allowed family: one socket per family, IPv6 ones with IPV6_V6ONLY so both
 * can bind the same port. Stores up to max_fds fds, returns the count. */
int sock_inet_listen(const char *spec, int family, int backlog, int *fds, size_t max_fds,
                     strbuf *err);
/* The local port of a bound socket (for listeners bound to port 0). */
int sock_local_port(int fd, unsigned *port);

/* TCP connect to host:port, trying each resolved address in turn with a
 * non-blocking connect, within timeout_ms in total. Returns the fd. */
int sock_inet_connect(const char *host, unsigned port, int family, int timeout_ms, strbuf *err);

/* Numeric address text; IPv4-mapped IPv6 as IPv4. AF_UNIX gives "local". */
void sock_addr_str(const struct sockaddr *sa, socklen_t len, strbuf *out);
/* "name[addr]", or "unknown[addr]" when name is NULL or empty. */
void sock_format_peer(const struct sockaddr *sa, socklen_t len, const char *name, strbuf *out);
/* Describe the peer of a connected socket. With resolve, the reverse name is
 * used only if it resolves forward to the same address (otherwise
 * "unknown", as Postfix does). A UNIX-domain peer is "localhost[127.0.0.1]"
 * (how Postfix's smtpd describes a local, non-inet client). */
int sock_peer_describe(int fd, bool resolve, strbuf *out, strbuf *err);
/* The same for a peer address the caller already has (from getpeername or
 * accept): no system call of its own besides the name lookups. */
void sock_peer_describe_addr(const struct sockaddr *sa, socklen_t len, bool resolve, strbuf *out);

/* Send a wakeup trigger (len bytes, usually 1) to the FIFO or UNIX socket
 * at path, never waiting more than timeout_ms. */
int sock_trigger(const char *path, const void *buf, size_t len, int timeout_ms, strbuf *err);

/* Send a "W" (look for new work) wakeup without waiting. A server too busy to
 * take it (full backlog or FIFO) counts as woken: it has wakeups queued, and
 * the scan it makes for them comes after this call. */
int sock_wakeup(const char *path, strbuf *err);

#endif
