// capi_test is one rank of the C ABI's test (capi_test.go builds and runs it):
//
//   capi_test serve RANK SIZE SECRET        serve the store, print "URL <url>", join through it
//   capi_test url   RANK SIZE URL SECRET    join through the store at URL
//   capi_test env                           join as the environment says (CHORUS_RANK, ...)
//   capi_test abort RANK SIZE URL SECRET    rank 0 aborts; the others must learn why
//
// The first three run every collective over every element type and check the results exactly,
// then the asynchronous calls, the argument checks and a mismatched call. Every failure prints
// the line, the result and the last error, and exits 1; success prints "rank R: OK".

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus.h"

static int rank = -1, size = 0;

#define FAIL(...)                                         \
  do {                                                    \
    fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                         \
    fprintf(stderr, "\n");                                \
    exit(1);                                              \
  } while (0)

#define CHECK(call)                                                                      \
  do {                                                                                   \
    chorusResult_t r_ = (call);                                                          \
    if (r_ != chorusSuccess)                                                             \
      FAIL("%s: %s (%d): %s", #call, chorusGetErrorString(r_), (int)r_, chorusGetLastError(NULL)); \
  } while (0)

#define EXPECT_RESULT(want, call)                                                          \
  do {                                                                                     \
    chorusResult_t r_ = (call);                                                            \
    if (r_ != (want))                                                                      \
      FAIL("%s: got %s (%d), want %s: %s", #call, chorusGetErrorString(r_), (int)r_,        \
           chorusGetErrorString(want), chorusGetLastError(NULL));                          \
  } while (0)

#define EXPECT(cond, ...)        \
  do {                           \
    if (!(cond)) FAIL(__VA_ARGS__); \
  } while (0)

static const chorusDataType_t allTypes[] = {chorusInt8,    chorusUint8,   chorusInt32,
                                            chorusUint32,  chorusInt64,   chorusUint64,
                                            chorusFloat16, chorusFloat32, chorusFloat64,
                                            chorusBfloat16};
static const char* typeNames[] = {"int8",    "uint8",   "int32",   "uint32",  "int64",
                                  "uint64",  "float16", "float32", "float64", "bfloat16"};
#define NTYPES (sizeof(allTypes) / sizeof(allTypes[0]))

static size_t typeSize(chorusDataType_t t) {
  switch (t) {
    case chorusInt8:
    case chorusUint8:
      return 1;
    case chorusFloat16:
    case chorusBfloat16:
      return 2;
    case chorusInt32:
    case chorusUint32:
    case chorusFloat32:
      return 4;
    default:
      return 8;
  }
}

// halfOf returns the binary16 bits of v, an integer in [0, 2048] (exact in binary16).
static uint16_t halfOf(double v) {
  unsigned u = (unsigned)v;
  if (u == 0) return 0;
  int e = 0;
  while ((1u << (e + 1)) <= u) e++;
  return (uint16_t)(((e + 15) << 10) | ((u - (1u << e)) << (10 - e)));
}

// halfValue returns the value of the binary16 bits h (normal numbers and zero).
static double halfValue(uint16_t h) {
  int e = (h >> 10) & 31;
  unsigned m = h & 1023;
  if (e == 0) return 0;
  double v = (1.0 + m / 1024.0);
  for (; e > 15; e--) v *= 2;
  for (; e < 15; e++) v /= 2;
  return (h & 0x8000) ? -v : v;
}

static uint16_t bhalfOf(double v) {
  float f = (float)v;
  uint32_t u;
  memcpy(&u, &f, 4);
  return (uint16_t)(u >> 16);
}

static double bhalfValue(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void put(chorusDataType_t t, void* buf, size_t i, double v) {
  switch (t) {
    case chorusInt8: ((int8_t*)buf)[i] = (int8_t)v; break;
    case chorusUint8: ((uint8_t*)buf)[i] = (uint8_t)v; break;
    case chorusInt32: ((int32_t*)buf)[i] = (int32_t)v; break;
    case chorusUint32: ((uint32_t*)buf)[i] = (uint32_t)v; break;
    case chorusInt64: ((int64_t*)buf)[i] = (int64_t)v; break;
    case chorusUint64: ((uint64_t*)buf)[i] = (uint64_t)v; break;
    case chorusFloat16: ((uint16_t*)buf)[i] = halfOf(v); break;
    case chorusFloat32: ((float*)buf)[i] = (float)v; break;
    case chorusFloat64: ((double*)buf)[i] = v; break;
    case chorusBfloat16: ((uint16_t*)buf)[i] = bhalfOf(v); break;
    default: FAIL("bad type %d", (int)t);
  }
}

static double get(chorusDataType_t t, const void* buf, size_t i) {
  switch (t) {
    case chorusInt8: return ((const int8_t*)buf)[i];
    case chorusUint8: return ((const uint8_t*)buf)[i];
    case chorusInt32: return ((const int32_t*)buf)[i];
    case chorusUint32: return ((const uint32_t*)buf)[i];
    case chorusInt64: return (double)((const int64_t*)buf)[i];
    case chorusUint64: return (double)((const uint64_t*)buf)[i];
    case chorusFloat16: return halfValue(((const uint16_t*)buf)[i]);
    case chorusFloat32: return ((const float*)buf)[i];
    case chorusFloat64: return ((const double*)buf)[i];
    case chorusBfloat16: return bhalfValue(((const uint16_t*)buf)[i]);
    default: FAIL("bad type %d", (int)t);
  }
  return 0;
}

// value is what rank r contributes at index i: small integers, exact in every type.
static double value(int r, size_t i) { return (double)((r + 1) * (int)(i % 5 + 1)); }

static void* alloc(chorusDataType_t t, size_t n) {
  void* p = calloc(n ? n : 1, typeSize(t));
  EXPECT(p != NULL, "out of memory");
  return p;
}

static void expectAll(chorusDataType_t t, const void* buf, size_t n, double (*want)(size_t),
                      const char* what) {
  for (size_t i = 0; i < n; i++) {
    double g = get(t, buf, i), w = want(i);
    EXPECT(g == w, "%s %s: element %zu is %g, want %g", what, typeNames[t], i, g, w);
  }
}

static double sumAt(size_t i) { return (double)(i % 5 + 1) * size * (size + 1) / 2; }
static double maxAt(size_t i) { return value(size - 1, i); }
static double minAt(size_t i) { return value(0, i); }
static double rootAt(size_t i) { return value(size - 1, i); }
static double gatheredAt(size_t i) { return value((int)(i / 3), i % 3); }
static double scatteredAt(size_t i) { return value(0, (size_t)rank * 3 + i); }
static size_t rsCount = 3;
static double reduceScatteredAt(size_t i) { return sumAt((size_t)rank * rsCount + i); }
static double alltoallAt(size_t i) { return value((int)(i / 2), (size_t)rank * 2 + i % 2); }
static double prevRankAt(size_t i) { return value((rank + size - 1) % size, i); }

static void testCollectives(chorusComm_t comm) {
  const size_t n = 7;
  for (size_t k = 0; k < NTYPES; k++) {
    chorusDataType_t t = allTypes[k];
    void* in = alloc(t, n * size);
    void* out = alloc(t, n * size);
    for (size_t i = 0; i < n * size; i++) put(t, in, i, value(rank, i));

    CHECK(chorusAllReduce(in, out, n, t, chorusSum, comm));
    expectAll(t, out, n, sumAt, "allreduce sum");
    CHECK(chorusAllReduce(in, out, n, t, chorusMax, comm));
    expectAll(t, out, n, maxAt, "allreduce max");
    CHECK(chorusAllReduce(in, out, n, t, chorusMin, comm));
    expectAll(t, out, n, minAt, "allreduce min");

    // In place: send and receive are one buffer.
    memcpy(out, in, n * typeSize(t));
    CHECK(chorusAllReduce(out, out, n, t, chorusSum, comm));
    expectAll(t, out, n, sumAt, "allreduce in place");

    // Broadcast from the last rank; the others pass no send buffer.
    memset(out, 0, n * typeSize(t));
    CHECK(chorusBroadcast(rank == size - 1 ? in : NULL, out, n, t, size - 1, comm));
    expectAll(t, out, n, rootAt, "broadcast");

    // Reduce to rank 0; the others pass no receive buffer.
    memset(out, 0, n * typeSize(t));
    CHECK(chorusReduce(in, rank == 0 ? out : NULL, n, t, chorusSum, 0, comm));
    if (rank == 0) expectAll(t, out, n, sumAt, "reduce");

    // All-gather 3 elements per rank: rank r's block holds value(r, 0..2).
    CHECK(chorusAllGather(in, out, 3, t, comm));
    expectAll(t, out, 3 * (size_t)size, gatheredAt, "allgather");

    // Reduce-scatter: rank r gets block r of the sum of everyone's send buffers.
    CHECK(chorusReduceScatter(in, out, rsCount, t, chorusSum, comm));
    expectAll(t, out, rsCount, reduceScatteredAt, "reducescatter");

    // All-to-all 2 elements per pair: block j of rank r's send goes to rank j as block r.
    CHECK(chorusAllToAll(in, out, 2, t, comm));
    expectAll(t, out, 2 * (size_t)size, alltoallAt, "alltoall");

    // Gather to rank 0 and scatter from it.
    CHECK(chorusGather(in, rank == 0 ? out : NULL, 3, t, 0, comm));
    if (rank == 0) expectAll(t, out, 3 * (size_t)size, gatheredAt, "gather");
    CHECK(chorusScatter(rank == 0 ? in : NULL, out, 3, t, 0, comm));
    expectAll(t, out, 3, scatteredAt, "scatter");

    // A ring of sends: to the next rank (started), from the previous one (blocking).
    chorusRequest_t sent;
    CHECK(chorusSendAsync(in, n, t, (rank + 1) % size, comm, &sent));
    CHECK(chorusRecv(out, n, t, (rank + size - 1) % size, comm));
    CHECK(chorusWait(sent));
    CHECK(chorusRequestFree(sent));
    expectAll(t, out, n, prevRankAt, "send/recv");

    free(in);
    free(out);
  }
  CHECK(chorusBarrier(comm));
}

static double prodAt(size_t i) {
  double p = 1;
  for (int r = 0; r < size; r++) p *= value(r, i);
  return p;
}
static double avgAt(size_t i) { return sumAt(i) / size; }

static void testOps(chorusComm_t comm) {
  const size_t n = 5;
  float in[5], out[5];
  for (size_t i = 0; i < n; i++) in[i] = (float)value(rank, i);
  CHECK(chorusAllReduce(in, out, n, chorusFloat32, chorusProd, comm));
  expectAll(chorusFloat32, out, n, prodAt, "allreduce prod");
  CHECK(chorusAllReduce(in, out, n, chorusFloat32, chorusAvg, comm));
  expectAll(chorusFloat32, out, n, avgAt, "allreduce avg");
  int32_t iin[5], iout[5];
  for (size_t i = 0; i < n; i++) iin[i] = (int32_t)value(rank, i) * size;  // sums divide by size
  CHECK(chorusAllReduce(iin, iout, n, chorusInt32, chorusAvg, comm));
  for (size_t i = 0; i < n; i++) EXPECT(iout[i] == (int32_t)sumAt(i), "int avg [%zu] = %d", i, iout[i]);
  CHECK(chorusAllReduce(NULL, NULL, 0, chorusFloat32, chorusSum, comm));  // nothing to reduce
}

// testMem runs collectives on memory from chorusMemAlloc, large enough that ranks of one host
// lend each other the messages, and checks the values; then frees it.
static void testMem(chorusComm_t comm) {
  const size_t n = (size_t)1 << 21;  // 8 MiB of float32
  float* buf = NULL;
  CHECK(chorusMemAlloc((void**)&buf, n * sizeof(float)));
  EXPECT(buf != NULL, "chorusMemAlloc stored NULL");
  for (size_t i = 0; i < n; i++) EXPECT(buf[i] == 0, "fresh memory is not zero at %zu", i);
  for (size_t i = 0; i < n; i++) buf[i] = (float)value(rank, i);
  CHECK(chorusAllReduce(buf, buf, n, chorusFloat32, chorusSum, comm));
  expectAll(chorusFloat32, buf, n, sumAt, "allreduce on chorusMemAlloc memory");
  for (size_t i = 0; i < n; i++) buf[i] = rank == size - 1 ? (float)value(rank, i) : 0;
  CHECK(chorusBroadcast(buf, buf, n, chorusFloat32, size - 1, comm));
  expectAll(chorusFloat32, buf, n, rootAt, "broadcast on chorusMemAlloc memory");
  CHECK(chorusMemFree(buf));
  EXPECT_RESULT(chorusInvalidArgument, chorusMemFree(buf));  // freed already
  float other;
  EXPECT_RESULT(chorusInvalidArgument, chorusMemFree(&other));
  EXPECT_RESULT(chorusInvalidArgument, chorusMemFree(NULL));
  EXPECT_RESULT(chorusInvalidArgument, chorusMemAlloc((void**)&buf, 0));
  EXPECT_RESULT(chorusInvalidArgument, chorusMemAlloc(NULL, 8));
}

struct waitArg {
  chorusRequest_t req;
  chorusResult_t result;
};

static void* waitThread(void* p) {
  struct waitArg* a = p;
  a->result = chorusWait(a->req);
  return NULL;
}

static void testAsync(chorusComm_t comm) {
  double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, ra[4], rb[4];
  chorusRequest_t qa, qb;
  CHECK(chorusAllReduceAsync(a, ra, 4, chorusFloat64, chorusSum, comm, &qa));
  CHECK(chorusAllReduceAsync(b, rb, 4, chorusFloat64, chorusMax, comm, &qb));
  CHECK(chorusWait(qb));  // in reverse order: the first finishes before the second
  int done = 0;
  CHECK(chorusTest(qa, &done));
  EXPECT(done == 1, "the first request is not done after the second finished");
  CHECK(chorusWaitTimeout(qa, 0));
  for (int i = 0; i < 4; i++) {
    EXPECT(ra[i] == a[i] * size, "async sum [%d] = %g", i, ra[i]);
    EXPECT(rb[i] == b[i], "async max [%d] = %g", i, rb[i]);
  }
  CHECK(chorusRequestFree(qa));
  CHECK(chorusRequestFree(qb));
  EXPECT_RESULT(chorusInvalidArgument, chorusRequestFree(qa));  // freed already
  EXPECT_RESULT(chorusInvalidArgument, chorusWait(qa));

  // A request waited for by another thread.
  struct waitArg arg;
  CHECK(chorusBarrierAsync(comm, &arg.req));
  pthread_t th;
  EXPECT(pthread_create(&th, NULL, waitThread, &arg) == 0, "pthread_create");
  EXPECT(pthread_join(th, NULL) == 0, "pthread_join");
  EXPECT(arg.result == chorusSuccess, "barrier waited in a thread: %s", chorusGetErrorString(arg.result));
  CHECK(chorusRequestFree(arg.req));

  // A request that cannot have finished is not freed: rank 1 sends only after it hears from
  // rank 0, which speaks only after trying to free its receive.
  if (rank <= 1 && size >= 2) {
    int64_t token = 42, got = 0;
    if (rank == 0) {
      chorusRequest_t pending;
      CHECK(chorusRecvAsync(&got, 1, chorusInt64, 1, comm, &pending));
      CHECK(chorusTest(pending, &done));
      EXPECT(done == 0, "the receive finished before its send was made");
      EXPECT_RESULT(chorusInProgress, chorusWaitTimeout(pending, 1));
      EXPECT_RESULT(chorusInvalidUsage, chorusRequestFree(pending));
      EXPECT(strstr(chorusGetLastError(NULL), "still running") != NULL, "last error: %s",
             chorusGetLastError(NULL));
      CHECK(chorusSend(&token, 1, chorusInt64, 1, comm));
      CHECK(chorusWait(pending));
      CHECK(chorusRequestFree(pending));
      EXPECT(got == 43, "received %lld, want 43", (long long)got);
    } else {
      CHECK(chorusRecv(&got, 1, chorusInt64, 0, comm));
      token = got + 1;
      CHECK(chorusSend(&token, 1, chorusInt64, 0, comm));
    }
  }
}

static void testArguments(chorusComm_t comm) {
  float x[2] = {0}, y[2];
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduce(x, y, 2, (chorusDataType_t)99, chorusSum, comm));
  EXPECT(strstr(chorusGetLastError(comm), "data type 99") != NULL, "last error: %s", chorusGetLastError(NULL));
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduce(x, y, 2, chorusFloat32, (chorusRedOp_t)42, comm));
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduce(x, y, 2, chorusFloat32, chorusSum, NULL));
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduce(NULL, y, 2, chorusFloat32, chorusSum, comm));
  EXPECT_RESULT(chorusInvalidArgument, chorusBroadcast(x, y, 2, chorusFloat32, size, comm));
  EXPECT_RESULT(chorusInvalidArgument, chorusSend(x, 2, chorusFloat32, rank, comm));  // to itself
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduceAsync(x, y, 2, chorusFloat32, chorusSum, comm, NULL));
  float z[3] = {0};
  EXPECT_RESULT(chorusInvalidArgument, chorusAllReduce(z, z + 1, 2, chorusFloat32, chorusSum, comm));  // overlap
  EXPECT_RESULT(chorusInvalidArgument, chorusCommCount(comm, NULL));
  EXPECT(strcmp(chorusGetErrorString(chorusTimeout), "timed out") == 0, "error string of chorusTimeout");
  EXPECT(strcmp(chorusGetErrorString((chorusResult_t)1000), "unknown result code") == 0, "unknown code");
  chorusConfig_t bad = CHORUS_CONFIG_INITIALIZER;
  bad.size = 1;
  chorusComm_t none = NULL;
  EXPECT_RESULT(chorusInvalidArgument, chorusCommInitRankConfig(&none, 2, 0, "tcp://127.0.0.1:1", NULL, &bad));
  EXPECT(none == NULL, "a failed init made a communicator");
  // The arguments above were refused before anything was sent: the ranks still agree.
  CHECK(chorusBarrier(comm));
}

// testMismatch issues different all-reduces on rank 0 and the others; every rank must fail
// (rather than hang or mix data), and the communicator must say it is aborted.
static void testMismatch(chorusComm_t comm) {
  float x[5] = {1, 2, 3, 4, 5};
  // A barrier ends on a rank once every rank has entered it, not left it: rank 0 may find the
  // mismatch below and abort while another rank is still leaving this one. So this barrier may
  // fail with chorusAborted; the one before (testArguments') may not, since no rank passes
  // this one before every rank has left that one.
  chorusResult_t b = chorusBarrier(comm);
  EXPECT(b == chorusSuccess || b == chorusAborted, "barrier before the mismatch: %s: %s",
         chorusGetErrorString(b), chorusGetLastError(NULL));
  chorusResult_t r = chorusAllReduce(x, x, rank == 0 ? 4 : 5, chorusFloat32, chorusSum, comm);
  EXPECT(r == chorusMismatch || r == chorusAborted, "mismatched allreduce: %s: %s",
         chorusGetErrorString(r), chorusGetLastError(NULL));
  chorusResult_t async = chorusSuccess;
  CHECK(chorusCommGetAsyncError(comm, &async));
  EXPECT(async == chorusAborted, "async error after a mismatch: %s", chorusGetErrorString(async));
  EXPECT(strstr(chorusGetLastError(NULL), "mismatch") != NULL, "last error: %s", chorusGetLastError(NULL));
  EXPECT_RESULT(chorusAborted, chorusBarrier(comm));
}

static void runAll(chorusComm_t comm) {
  int n = 0, r = -1, version = 0;
  CHECK(chorusGetVersion(&version));
  EXPECT(version == CHORUS_VERSION_CODE, "version %d, header says %d", version, CHORUS_VERSION_CODE);
  CHECK(chorusCommCount(comm, &n));
  CHECK(chorusCommUserRank(comm, &r));
  if (rank < 0) rank = r, size = n;
  EXPECT(n == size && r == rank, "count %d rank %d, want %d and %d", n, r, size, rank);
  testCollectives(comm);
  testOps(comm);
  testMem(comm);
  testAsync(comm);
  testArguments(comm);
  testMismatch(comm);
  CHECK(chorusCommDestroy(comm));
  EXPECT_RESULT(chorusInvalidArgument, chorusCommCount(comm, &n));  // destroyed
  printf("rank %d: OK\n", rank);
}

static void runAbort(chorusComm_t comm) {
  CHECK(chorusBarrier(comm));
  // Rank 0 aborts once this second barrier ends for it, possibly while another rank is still
  // leaving it (see testMismatch): it may fail with chorusAborted, the first may not.
  chorusResult_t b = chorusBarrier(comm);
  EXPECT(b == chorusSuccess || b == chorusAborted, "second barrier: %s", chorusGetErrorString(b));
  if (rank == 0) {
    CHECK(chorusCommAbortWithReason(comm, "abort test: rank 0 gives up"));
    int n;
    EXPECT_RESULT(chorusInvalidArgument, chorusCommCount(comm, &n));
    printf("rank 0: ABORTED\n");
    fflush(stdout);
    // Stay alive until the test says the others are done, so the notice is delivered.
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) {
    }
  } else {
    float x[3] = {1, 2, 3};
    EXPECT_RESULT(chorusAborted, chorusAllReduce(x, x, 3, chorusFloat32, chorusSum, comm));
    EXPECT(strstr(chorusGetLastError(NULL), "abort test: rank 0 gives up") != NULL, "last error: %s",
           chorusGetLastError(NULL));
    CHECK(chorusCommDestroy(comm));
  }
  printf("rank %d: OK\n", rank);
}

int main(int argc, char** argv) {
  if (argc < 2) FAIL("usage: capi_test serve|url|env|abort ...");
  const char* mode = argv[1];
  chorusComm_t comm = NULL;
  if (strcmp(mode, "env") == 0) {
    CHECK(chorusCommInitFromEnv(&comm));
    runAll(comm);
    return 0;
  }
  if (argc < 5) FAIL("usage: capi_test %s RANK SIZE ...", mode);
  rank = atoi(argv[2]);
  size = atoi(argv[3]);
  if (strcmp(mode, "serve") == 0) {
    chorusServer_t srv;
    char url[256];
    CHECK(chorusRendezvousServe("127.0.0.1:0", argv[4], &srv));
    EXPECT_RESULT(chorusInvalidArgument, chorusRendezvousURL(srv, url, 4));
    CHECK(chorusRendezvousURL(srv, url, sizeof url));
    printf("URL %s\n", url);
    fflush(stdout);
    chorusConfig_t cfg = CHORUS_CONFIG_INITIALIZER;
    cfg.timeout_ms = 60000;
    cfg.prefix = "capi-test";
    CHECK(chorusCommInitRankConfig(&comm, size, rank, url, argv[4], &cfg));
    runAll(comm);
    CHECK(chorusRendezvousStop(srv));
    return 0;
  }
  if (argc < 6) FAIL("usage: capi_test %s RANK SIZE URL SECRET", mode);
  if (strcmp(mode, "url") == 0) {
    chorusConfig_t cfg = CHORUS_CONFIG_INITIALIZER;
    cfg.timeout_ms = 60000;
    cfg.prefix = "capi-test";
    CHECK(chorusCommInitRankConfig(&comm, size, rank, argv[4], argv[5], &cfg));
    runAll(comm);
    return 0;
  }
  if (strcmp(mode, "abort") == 0) {
    CHECK(chorusCommInitRank(&comm, size, rank, argv[4], argv[5]));
    runAbort(comm);
    return 0;
  }
  FAIL("unknown mode %s", mode);
}
