/* smtp_relay.h: a minimal SMTP receiver on 127.0.0.1 for the tests of emailed breach notices
 * (INC-3): one thread, one connection at a time, plain SMTP (no STARTTLS offered), AUTH PLAIN
 * accepted and recorded. It records every message it accepts (envelope and DATA) up to
 * SMTP_RELAY_KEEP, can be told to refuse DATA with 451 for a while, and never answers at all
 * when started silent. Thread-safe: the test reads it while the relay thread writes. */
#ifndef CST_SMTP_RELAY_H
#define CST_SMTP_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define SMTP_RELAY_KEEP 16    /* messages recorded; later ones are counted only */
#define SMTP_RELAY_RCPTS 8    /* RCPT TO recorded per message */
#define SMTP_RELAY_DATA 65536 /* DATA bytes recorded per message */
#define SMTP_RELAY_ADDR 256   /* an envelope address as sent, with its angle brackets */

typedef struct smtp_message {
    char mail_from[SMTP_RELAY_ADDR];
    char rcpt[SMTP_RELAY_RCPTS][SMTP_RELAY_ADDR];
    int nrcpt;
    char data[SMTP_RELAY_DATA]; /* as received (dot-stuffed), CRLF line ends, without the "." */
    size_t data_len;
} smtp_message;

typedef struct smtp_relay {
    int lfd, port;
    pthread_t thread;
    _Atomic bool stop;
    bool silent; /* accept connections, then never answer */
    pthread_mutex_t mu;
    /* under mu: */
    int refuse;     /* DATA commands still to answer 451 (-1: until told otherwise) */
    int refused;    /* DATA commands answered 451 */
    int envelopes;  /* MAIL FROM commands seen, accepted or not */
    int accepted;   /* messages accepted (250 after DATA), recorded or not */
    char auth[256]; /* the last AUTH PLAIN response (base64) */
    smtp_message kept[SMTP_RELAY_KEEP];
    smtp_message cur; /* the transaction under way (relay thread only) */
} smtp_relay;

/* Starts the relay on a free loopback port (r->port); false when it cannot. r should be static
 * (it holds the recorded messages). */
bool smtp_relay_start(smtp_relay *r, bool silent);
/* Stops the relay thread; what it recorded can still be read. */
void smtp_relay_stop(smtp_relay *r);
/* From now on, answer the next n DATA commands with 451 (n = -1: all until called with 0). */
void smtp_relay_refuse(smtp_relay *r, int n);
int smtp_relay_refused(smtp_relay *r);
int smtp_relay_envelopes(smtp_relay *r);
/* Messages accepted so far. */
int smtp_relay_accepted(smtp_relay *r);
/* Copies accepted message i (0 = first; i < SMTP_RELAY_KEEP) into *out; false when there is no
 * such message recorded. */
bool smtp_relay_message(smtp_relay *r, int i, smtp_message *out);
/* The last AUTH PLAIN response ("" when none) into out. */
void smtp_relay_auth(smtp_relay *r, char *out, size_t n);
/* The message as the receiver reads it: a leading ".." of a line becomes "." (RFC 5321
 * 4.5.2). out has room for strlen(in) + 1. */
void smtp_relay_unstuff(const char *in, char *out);

#endif
