/* smtpd_client_registry (client_registry_*) - per-client connection counts and connection rates
 * shared by all smtpd processes, without a daemon (the part of Postfix's
 * anvil(8) behind smtpd_client_connection_count_limit and
 * smtpd_client_connection_rate_limit; DESIGN.md absorbs anvil).
 *
 * Why a file with byte-range locks rather than a daemon or shared memory:
 * the count must never leak when an smtpd is SIGKILLed, and nothing may have
 * to clean up after it. Each connection slot is owned through an OFD lock
 * (fcntl F_OFD_SETLK) on the slot's bytes; the kernel drops the lock when
 * the owner's last descriptor closes, so a slot of a dead process is free
 * the instant it dies, whatever its bytes say. Counting scans the slots
 * whose key matches and asks the kernel (F_OFD_GETLK) whether each is still
 * held. A shared-memory table would need a robust mutex plus per-entry
 * liveness checks (pid reuse) to get the same guarantee.
 *
 * Layout of the file (host byte order, volatile: never fsynced, a reboot
 * leaves only unlocked slots and expired rate windows, which read as empty):
 *   header   64 bytes: magic "MTACREG1", nconn, nrate; its bytes are also
 *            the table lock, held briefly (blocking) around each
 *            count-and-register and each rate update, so two connections
 *            racing for the last allowed place are serialised.
 *   nconn connection slots of 32 bytes: key, pid, in-use flag, since.
 *   nrate rate entries of 32 bytes: key, window start, count (fixed
 *            windows of `window` seconds, as anvil's rate time unit).
 * A key is a 64-bit FNV-1a hash of "service\0address": distinct clients
 * share a key with probability ~2^-64 (the only effect: one shared count).
 * The geometry is fixed by whoever creates the file; later openers use the
 * file's. Costs per connection: one pread of the table plus one fcntl per
 * matching or tried slot, O(nconn + nrate) bounded by the geometry
 * (CLIENT_REGISTRY_MAX_SLOTS).
 *
 * Limits of the design: when every slot is held (more simultaneous
 * connections than slots) the connection is counted but not registered
 * (registered == false) and callers should let it through; when the rate
 * table is full the entry with the oldest window is reused, so a flood from
 * more distinct addresses than entries can make a client's rate forgotten.
 * A process holds at most one slot per handle; the descriptor is
 * close-on-exec, and a fork()ed child would share the lock (smtpd does not
 * fork).
 */
#ifndef MTA_CLIENT_REGISTRY_H
#define MTA_CLIENT_REGISTRY_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "strbuf.h"

#define CLIENT_REGISTRY_MAX_SLOTS 65536

typedef struct client_registry client_registry;

/* Open `path`, creating it (mode 0600) with nconn connection slots and
 * nrate rate entries when missing or not a registry (1..MAX each). NULL with
 * *err set on failure. Open as root before dropping privileges and before
 * a chroot: the descriptor keeps working afterwards. */
client_registry *client_registry_open(const char *path, size_t nconn, size_t nrate, strbuf *err);

struct client_registry_result {
    long count;      /* live connections of this key, this one included */
    long rate;       /* connections of this key in the current window, this one included */
    bool registered; /* this connection holds a slot (false: table full) */
};

/* A new connection from `addr` to `service`. With want_count, registers it
 * (any earlier registration of this handle ends first) and counts the live
 * ones; with window > 0, counts it into the rate window (seconds) at time
 * `now`. Fields not asked for are 0. Returns 0, or -1 with *err set on an
 * I/O error (nothing is registered then). */
int client_registry_connect(client_registry *r, const char *service, const char *addr,
                            bool want_count, long long window, time_t now,
                            struct client_registry_result *out, strbuf *err);

/* The connection ended: give its slot back (no-op when none is held). */
void client_registry_disconnect(client_registry *r);

/* Live connections of (service, addr) now, without registering (tests,
 * diagnostics). -1 with *err set on an I/O error. */
long client_registry_count(client_registry *r, const char *service, const char *addr, strbuf *err);

/* Disconnect, close the file and clear the caller's pointer. */
void client_registry_close(client_registry **r);

#endif
