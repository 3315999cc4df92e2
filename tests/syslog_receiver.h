/* syslog_receiver.h: a minimal RFC 5425 syslog receiver (TLS, octet-counting framing) on
 * 127.0.0.1 for the tests of audit shipping: one thread, one connection at a time, a GnuTLS
 * server with the certificate and key files it is given. It records every message (SYSLOG-MSG,
 * without its length) in arrival order, counts handshakes that failed and frames that were not
 * RFC 5425, and can be stopped and started again on the same port (a receiver restart).
 * Thread-safe: the test reads it while the receiver thread writes. */
#ifndef CST_SYSLOG_RECEIVER_H
#define CST_SYSLOG_RECEIVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct syslog_receiver {
    int lfd, port;
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    char cert[512], key[512];
    pthread_mutex_t mu;
    bool mu_ready;
    /* under mu: */
    char **msgs;
    size_t n, cap;
    int handshakes, handshake_failures, bad_frames;
} syslog_receiver;

/* Starts on 127.0.0.1:port (0: a free one; r->port receives it) with a certificate and key (PEM
 * files); keeps what an earlier run of r recorded. False when it cannot. */
bool syslog_receiver_start(syslog_receiver *r, int port, const char *cert, const char *key);
/* Stops the thread and closes the connection (the sender sees it closed). */
void syslog_receiver_stop(syslog_receiver *r);
/* Messages received so far. */
size_t syslog_receiver_count(syslog_receiver *r);
/* A copy of message i (malloc'd; free it), NULL when there is none. */
char *syslog_receiver_message(syslog_receiver *r, size_t i);
int syslog_receiver_handshakes(syslog_receiver *r, int *failed);
int syslog_receiver_bad_frames(syslog_receiver *r);
/* Frees what it recorded (after stop). */
void syslog_receiver_free(syslog_receiver *r);

#endif
