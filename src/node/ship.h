/* ship.h: audit shipping (LOG-1, issue 19): the audit entries leave the node as they are
 * written, to a syslog receiver (RFC 5424 messages over TLS, RFC 5425 octet-counting framing)
 * and/or to the standard input of a long-running command (one JSON line per entry,
 * {"stream":NAME,"entry":LINE}: a Vector or Fluent Bit agent). Each sink has its own thread that
 * reads the segments on disk up to the last durable entry of each stream (cst_audit_durable_seq),
 * so a slow or dead receiver never holds up an audit write, and memory stays bounded (one batch).
 * An entry is shipped exactly as the segment holds it (the same JSON line, byte for byte: sealed
 * details stay sealed).
 *
 * Delivery is at-least-once and in order per stream: a sink's last acknowledged sequence number
 * per stream is kept in `<data_dir>/audit/ship-<sink>.json` after every batch, and delivery
 * resumes after it when the node or the receiver comes back; receivers deduplicate by
 * (node, stream, seq). "Acknowledged": for syslog, written and flushed to the TLS connection
 * with no error, and the connection not closed by the receiver before the batch (RFC 5425 has
 * no application-level ack, so a batch in the kernel's buffers when the receiver's host dies is
 * lost to it); for the command, read by the program from its pipe (what a program that exits
 * left unread goes to its next start). */
#ifndef CST_SHIP_H
#define CST_SHIP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "node/node.h"
#include "util/buf.h"

typedef enum cst_ship_sink {
    CST_SHIP_SYSLOG = 0,  /* audit.syslog_url */
    CST_SHIP_COMMAND = 1, /* audit.ship_command */
    CST_SHIP__SINKS
} cst_ship_sink;

extern const char *const cst_ship_sink_names[CST_SHIP__SINKS]; /* "syslog", "command" */

/* Starts a thread per configured sink (none configured: nothing, CST_OK). The audit log must
 * be open. */
CST_MUST_USE cst_err cst_ship_start(cst_node *n);
/* Stops them (what is not acknowledged goes after the next start). Safe when not started. */
void cst_ship_stop(cst_node *n);

/* For metrics: the entries of stream s that are durable in the log but not yet acknowledged by
 * sink k (custodia_audit_ship_lag_entries{sink,stream}). False when that sink is not running. */
bool cst_ship_lag(cst_node *n, cst_ship_sink k, cst_audit_stream s, uint64_t *lag);

/* Where the audit log went, for a backup's manifest (backups do not carry the segments):
 * {"carried": false, "dir", "streams": {NAME: {"last_seq"}}, "shipped_to": [{"sink", "target",
 * "acked": {NAME: seq}}]}, the acknowledged numbers from the sinks' state files (so offline too).
 * New reference; NULL when out of memory. */
json_t *cst_ship_manifest(cst_node *n);

/* One RFC 5425 frame: "MSG-LEN SP SYSLOG-MSG", the message being RFC 5424
 * "<PRI>1 TIMESTAMP HOSTNAME custodia - MSGID - MSG" with PRI = facility * 8 + severity
 * (6 informational for a success, 4 warning for a denial, 5 notice otherwise), TIMESTAMP the
 * entry's time, MSGID the stream's name, MSG the entry's JSON line (no trailing newline).
 * hostname: printable ASCII without spaces, at most 255 ("-" when empty). Appends to out. */
CST_MUST_USE cst_err cst_ship_syslog_frame(const char *line, size_t len, cst_audit_stream s,
                                           const char *hostname, int facility, cst_buf *out);

/* audit.syslog_url: "tls://HOST:PORT" ([v6]:PORT for IPv6) into host and port. */
CST_MUST_USE cst_err cst_ship_parse_url(const char *url, char *host, size_t n, int *port);

#endif
