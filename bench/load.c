/* load.c: a keep-alive HTTPS load generator for custodia's record API (libcurl). Each thread
 * holds one connection; it is opened and warmed (its TLS handshake done by one GET
 * /v1/sys/health) before the clock starts, so the figures are those of warm connections. Then
 * each thread PUTs, then GETs, its own keys. With a token file (one bearer token per tenant,
 * one a line) the requests go to the tenants round-robin: request j of thread i goes to tenant
 * (j * THREADS + i) mod TENANTS, so every connection spreads over all tenants. Prints one JSON
 * line per phase: operations per second, latency percentiles, failures, and the connections
 * that had to be opened again during the timed part (0 when keep-alive held).
 *
 * usage: bench_load BASE_URL CACERT TOKEN|@TOKEN_FILE BUCKET THREADS OPS_PER_THREAD VALUE_BYTES
 *                   [PUT|GET|BOTH [KEY_PREFIX]]
 * (PUT or GET runs only that phase; a GET phase reads the keys a PUT phase with the same
 * THREADS and KEY_PREFIX wrote.) Environment: BENCH_SECONDS caps each phase's timed part (a
 * thread stops starting operations after it; "min_done" says how many every thread did);
 * BENCH_KEYS (a PUT phase's min_done) makes a GET phase read key j mod BENCH_KEYS, so that a
 * capped PUT phase is still read back without misses. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256
#define MAX_TENANTS 100000
#define TOKEN_MAX 256

static const char *base, *cacert, *bucket, *prefix = "t";
static char (*tokens)[TOKEN_MAX];
static int ntokens, threads, ops, value_bytes;
static pthread_barrier_t warm;
static double cap_seconds; /* 0: no cap */
static int read_keys;      /* GET reads key j mod read_keys; 0: j */
static int last_min_done;  /* the last phase's fewest operations of one thread */

typedef struct worker {
    int id;
    double *lat; /* seconds, one per operation */
    int failures;
    long fail_status; /* the last failure's HTTP status (0: the transfer itself failed) */
    int done;
    long reconnects;
    const char *method;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

/* Reads one token per line from PATH (or takes ARG itself); 0 on success. */
static int load_tokens(const char *arg)
{
    tokens = calloc(MAX_TENANTS, TOKEN_MAX);
    if (!tokens)
        return -1;
    if (arg[0] != '@') {
        snprintf(tokens[0], TOKEN_MAX, "%s", arg);
        ntokens = 1;
        return 0;
    }
    FILE *f = fopen(arg + 1, "r");
    if (!f)
        return -1;
    while (ntokens < MAX_TENANTS && fgets(tokens[ntokens], TOKEN_MAX, f)) {
        tokens[ntokens][strcspn(tokens[ntokens], "\r\n")] = 0;
        if (tokens[ntokens][0])
            ntokens++;
    }
    fclose(f);
    return ntokens > 0 ? 0 : -1;
}

/* One request of w: operation i (i < 0: the warming GET of the health endpoint). Returns the
 * HTTP status, 0 when the transfer failed. */
static long request(CURL *c, worker *w, int i, const char *value)
{
    char url[512], auth[TOKEN_MAX + 32];
    int key = read_keys && strcmp(w->method, "PUT") && i >= 0 ? i % read_keys : i;
    int tenant = key < 0 ? 0 : (int)(((long)key * threads + w->id) % ntokens);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tokens[tenant]);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/octet-stream");
    h = curl_slist_append(h, "Expect:");
    if (i < 0)
        snprintf(url, sizeof(url), "%s/v1/sys/health", base);
    else
        snprintf(url, sizeof(url), "%s/v1/buckets/%s/records/%s%d-%d", base, bucket, prefix, w->id,
                 key);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (i >= 0 && !strcmp(w->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, value);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)value_bytes);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    long status = 0, opened = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened);
    }
    if (i >= 0)
        w->reconnects += opened;
    curl_slist_free_all(h);
    return status;
}

static void *run(void *p)
{
    worker *w = p;
    CURL *c = curl_easy_init();
    char *value = malloc((size_t)value_bytes + 1);
    if (value)
        memset(value, 'v', (size_t)value_bytes);
    curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    if (request(c, w, -1, value) != 200)
        w->failures++;
    pthread_barrier_wait(&warm); /* every connection is warm before the clock starts */
    double stop_at = now_s() + cap_seconds;
    for (int i = 0; i < ops && (!cap_seconds || now_s() < stop_at); i++) {
        double t0 = now_s();
        long status = value ? request(c, w, i, value) : 0;
        w->lat[i] = now_s() - t0;
        if (status != 200 && status != 201) {
            w->failures++;
            w->fail_status = status;
        }
        w->done++;
    }
    curl_easy_cleanup(c);
    free(value);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int phase(const char *method)
{
    static pthread_t th[MAX_THREADS];
    static worker w[MAX_THREADS];
    size_t n = (size_t)threads * (size_t)ops;
    double *all = calloc(n, sizeof(double));
    if (!all || pthread_barrier_init(&warm, NULL, (unsigned)threads + 1) != 0)
        return -1;
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){i, all + (size_t)i * (size_t)ops, 0, 0, 0, 0, method};
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    pthread_barrier_wait(&warm);
    double t0 = now_s();
    int failures = 0, min_done = ops;
    long reconnects = 0, fail_status = -1;
    n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
        reconnects += w[i].reconnects;
        fail_status = w[i].failures ? w[i].fail_status : fail_status;
        min_done = w[i].done < min_done ? w[i].done : min_done;
        /* keep the latencies of the operations done, contiguous */
        memmove(all + n, w[i].lat, (size_t)w[i].done * sizeof(double));
        n += (size_t)w[i].done;
    }
    double elapsed = now_s() - t0;
    pthread_barrier_destroy(&warm);
    qsort(all, n, sizeof(double), cmp); /* n == 0 leaves all[0] = 0 (calloc) */
    printf(
        "{\"phase\":\"%s\",\"clients\":%d,\"tenants\":%d,\"value_bytes\":%d,\"ops\":%zu,"
        "\"min_done\":%d,\"failures\":%d,\"fail_status\":%ld,\"reconnects\":%ld,\"seconds\":%.2f,"
        "\"ops_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
        method, threads, ntokens, value_bytes, n, min_done, failures, fail_status, reconnects,
        elapsed, (double)n / elapsed, all[n / 2] * 1e3, all[n * 99 / 100] * 1e3);
    fflush(stdout);
    free(all);
    last_min_done = min_done;
    return 0;
}

int main(int argc, char **argv)
{
    const char *which = argc >= 9 ? argv[8] : "BOTH";
    if (argc < 8 || argc > 10 ||
        (strcmp(which, "PUT") && strcmp(which, "GET") && strcmp(which, "BOTH"))) {
        fprintf(stderr,
                "usage: %s BASE_URL CACERT TOKEN|@TOKEN_FILE BUCKET THREADS OPS VALUE_BYTES "
                "[PUT|GET|BOTH [KEY_PREFIX]]\n",
                argv[0]);
        return 2;
    }
    base = argv[1];
    cacert = argv[2];
    bucket = argv[4];
    threads = atoi(argv[5]);
    ops = atoi(argv[6]);
    value_bytes = atoi(argv[7]);
    if (argc == 10)
        prefix = argv[9];
    if (threads < 1 || threads > MAX_THREADS || ops < 1 || value_bytes < 0 ||
        load_tokens(argv[3]) != 0) {
        fprintf(stderr, "bench_load: bad arguments or unreadable token file\n");
        return 2;
    }
    const char *cap = getenv("BENCH_SECONDS"), *keys = getenv("BENCH_KEYS");
    cap_seconds = cap ? atof(cap) : 0;
    read_keys = keys ? atoi(keys) : 0;
    curl_global_init(CURL_GLOBAL_ALL);
    int rc = 0;
    if (strcmp(which, "GET"))
        rc = phase("PUT");
    if (!strcmp(which, "BOTH") && !read_keys && last_min_done < ops)
        read_keys = last_min_done; /* the PUT phase was capped: read what it wrote */
    if (rc == 0 && strcmp(which, "PUT"))
        rc = phase("GET");
    curl_global_cleanup();
    free(tokens);
    return rc == 0 ? 0 : 1;
}
