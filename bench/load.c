/* load.c: a keep-alive HTTPS load generator for custodia's record API (libcurl). Each thread
 * holds one connection and PUTs, then GETs, its own keys. Prints one JSON line per phase:
 * operations per second and latency percentiles.
 *
 * usage: bench_load BASE_URL CACERT TOKEN BUCKET THREADS OPS_PER_THREAD VALUE_BYTES [PUT]
 * (with PUT, only the write phase runs) */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *base, *cacert, *token, *bucket;
static int threads, ops, value_bytes;

typedef struct worker {
    int id;
    double *lat; /* seconds, one per operation */
    int failures;
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
    return s * n;
}

static void *run(void *p)
{
    worker *w = p;
    CURL *c = curl_easy_init();
    char url[512], auth[256];
    char *value = malloc((size_t)value_bytes);
    memset(value, 'v', (size_t)value_bytes);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/octet-stream");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    for (int i = 0; i < ops; i++) {
        snprintf(url, sizeof(url), "%s/v1/buckets/%s/records/t%d-%d", base, bucket, w->id, i);
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (!strcmp(w->method, "PUT")) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, value);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)value_bytes);
        } else {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        }
        double t0 = now_s();
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        w->lat[i] = now_s() - t0;
        if (status != 200 && status != 201)
            w->failures++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(value);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void phase(const char *method)
{
    pthread_t th[256];
    worker w[256];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){i, calloc((size_t)ops, sizeof(double)), 0, method};
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    int failures = 0;
    double *all = calloc((size_t)threads * (size_t)ops, sizeof(double));
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        memcpy(all + (size_t)i * (size_t)ops, w[i].lat, (size_t)ops * sizeof(double));
        failures += w[i].failures;
        free(w[i].lat);
    }
    double elapsed = now_s() - t0;
    size_t n = (size_t)threads * (size_t)ops;
    qsort(all, n, sizeof(double), cmp);
    printf("{\"phase\":\"%s\",\"ops\":%zu,\"failures\":%d,\"seconds\":%.2f,\"ops_per_s\":%.0f,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
           method, n, failures, elapsed, (double)n / elapsed, all[n / 2] * 1e3,
           all[n * 99 / 100] * 1e3);
    free(all);
}

int main(int argc, char **argv)
{
    if (argc != 8 && !(argc == 9 && strcmp(argv[8], "PUT") == 0)) {
        fprintf(stderr, "usage: %s BASE_URL CACERT TOKEN BUCKET THREADS OPS VALUE_BYTES [PUT]\n",
                argv[0]);
        return 2;
    }
    base = argv[1];
    cacert = argv[2];
    token = argv[3];
    bucket = argv[4];
    threads = atoi(argv[5]);
    ops = atoi(argv[6]);
    value_bytes = atoi(argv[7]);
    if (threads < 1 || threads > 256 || ops < 1 || value_bytes < 0)
        return 2;
    curl_global_init(CURL_GLOBAL_ALL);
    phase("PUT");
    if (argc == 8)
        phase("GET");
    curl_global_cleanup();
    return 0;
}
