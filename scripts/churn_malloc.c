/* The W2/W3 churn loop of docs/WORKLOADS.md over glibc malloc/free, in C:
 * what the `system` baseline of `sharena bench` is checked against
 * (docs/BENCHMARKS.md, "system against a C loop"). The same stream
 * (xorshift64 seeded 42), the same fill, and per op the same work as the
 * Rust loop: draw a slot and a size, read and check the old block's tag,
 * free it, allocate, write the new tag.
 *
 *   cc -O2 -o /tmp/churn_malloc scripts/churn_malloc.c
 *   /tmp/churn_malloc w2 10000000    # or: w3 5000000
 *
 * Prints ops, seconds, ops/s and the error count (0 when every tag held).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096

static uint64_t rng = 42;

static inline uint64_t next(void) {
    uint64_t x = rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng = x;
    return x;
}

static inline uint64_t draw(int w3) { return w3 ? 16 + next() % 4081 : 64; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "w2") && strcmp(argv[1], "w3"))) {
        fprintf(stderr, "usage: %s w2|w3 OPS\n", argv[0]);
        return 2;
    }
    int w3 = strcmp(argv[1], "w3") == 0;
    uint64_t ops = strtoull(argv[2], NULL, 10);
    static uint64_t *slot[SLOTS];
    static uint64_t tags[SLOTS];
    uint64_t errors = 0, oom = 0, checksum = 0;
    for (uint64_t j = 0; j < SLOTS; j++) {
        uint64_t *p = malloc(draw(w3));
        if (!p) { oom++; continue; }
        uint64_t t = (1ull << 56) | (UINT64_MAX - j + 1);
        *p = t;
        slot[j] = p;
        tags[j] = t;
    }
    double t0 = now();
    for (uint64_t n = 0; n < ops; n++) {
        uint64_t i = next() % SLOTS;
        uint64_t size = draw(w3);
        uint64_t *h = slot[i];
        if (h) {
            uint64_t v = *h;
            errors += v != tags[i];
            checksum += v;
            free(h);
        }
        uint64_t *p = malloc(size);
        if (p) {
            uint64_t t = (1ull << 56) | (n + 1);
            *p = t;
            slot[i] = p;
            tags[i] = t;
        } else {
            oom++;
            slot[i] = NULL;
        }
    }
    double secs = now() - t0;
    __asm__ volatile("" : : "r"(checksum));
    for (int j = 0; j < SLOTS; j++) free(slot[j]);
    printf("%s ops=%llu secs=%.4f rate=%.0f errors=%llu oom=%llu\n", argv[1],
           (unsigned long long)ops, secs, (double)ops / secs,
           (unsigned long long)errors, (unsigned long long)oom);
    return errors || oom;
}
