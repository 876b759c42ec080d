/*
 * chorus.h: the C ABI of Chorus, a peer-to-peer collective communication library.
 *
 * Build the library (one command, from the repository root; needs Go and gcc):
 *
 *     go build -buildmode=c-shared -o libchorus.so ./capi
 *
 * and compile against this header:
 *
 *     gcc -I capi prog.c -L . -lchorus -Wl,-rpath,'$ORIGIN'
 *
 * The API is shaped like NCCL's: a communicator handle (chorusComm_t), one call per collective,
 * element types and reduction operators numbered as NCCL numbers them, and a result code
 * (chorusResult_t) from every call. There are no CUDA streams: buffers are host memory, and a
 * call either blocks until the operation is done (chorusAllReduce) or starts it and returns a
 * request handle (chorusAllReduceAsync) to wait for or test.
 *
 * Matching. Collectives are matched across ranks by the order in which each rank issues them:
 * the n-th collective of one rank runs with the n-th collective of every other rank. A rank that
 * issues a different call at that place (another collective, type, count, root or operator) makes
 * the call fail with chorusMismatch on the ranks that notice, and the communicator aborts (every
 * rank's pending and later calls fail) instead of hanging or mixing data. Sends and receives are
 * matched per pair of ranks and direction, in order: the k-th send from A to B is received by
 * B's k-th receive from A, with the same byte length.
 *
 * Failures. Any failed collective aborts the communicator on every rank: pending and later calls
 * fail with chorusAborted (the first failing call gets the specific code: chorusTimeout,
 * chorusMismatch, chorusRemoteError...). Nothing waits forever: every operation is bounded by the
 * communicator's timeout (chorusConfig_t.timeout_ms, else the CHORUS_TIMEOUT environment
 * variable, else 5 minutes), and the error message names the rank that was waited for.
 *
 * Thread safety.
 *   - Every function may be called from any thread, and concurrently from several threads.
 *   - Collectives are ordered by the moment each call is issued. Two threads that issue
 *     collectives on one communicator at the same time issue them in an order that may differ
 *     from rank to rank, which fails with chorusMismatch: issue a communicator's collectives
 *     from one thread, or order them yourself.
 *   - A request may be waited for or tested from any thread, including one other than the
 *     thread that started it, and by several threads at once. Free it once, after it finished.
 *   - chorusGetLastError is per thread: it describes the last failed call made by the calling
 *     thread.
 *   - Buffers passed to an operation belong to the library until the operation has finished
 *     (the blocking call returned, or chorusWait/chorusTest said so): do not change or free them
 *     before, and do not read a receive buffer before.
 *   - fork(): after the library has started (any call), a child made by fork() must not call
 *     into the library: the Go runtime inside it does not survive fork() and the call hangs.
 *     Start helper processes with fork()+exec() (posix_spawn, Python's "spawn" start method)
 *     when they need Chorus.
 *
 * Memory. Strings returned by the library (chorusGetErrorString, chorusGetLastError) are owned
 * by it: copy them if you keep them. Handles are freed by chorusCommDestroy, chorusCommAbort,
 * chorusRequestFree, chorusStoreClose and chorusRendezvousStop.
 */
#ifndef CHORUS_H_
#define CHORUS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHORUS_MAJOR 0
#define CHORUS_MINOR 1
#define CHORUS_PATCH 0
/* CHORUS_VERSION_CODE is what chorusGetVersion reports for this header's version. */
#define CHORUS_VERSION(X, Y, Z) ((X) * 10000 + (Y) * 100 + (Z))
#define CHORUS_VERSION_CODE CHORUS_VERSION(CHORUS_MAJOR, CHORUS_MINOR, CHORUS_PATCH)

/* Result codes. 0 to 7 have NCCL's meanings and numbers. */
typedef enum {
  chorusSuccess = 0,
  chorusUnhandledDeviceError = 1, /* reserved (NCCL's ncclUnhandledCudaError) */
  chorusSystemError = 2,          /* the system or the network failed (a socket, a peer's host) */
  chorusInternalError = 3,        /* a bug in Chorus, including a recovered Go panic */
  chorusInvalidArgument = 4,      /* a bad argument: NULL, bad type, op, root, count or handle */
  chorusInvalidUsage = 5,         /* a call at the wrong time: freeing a request still running */
  chorusRemoteError = 6,          /* a peer failed or left during the operation */
  chorusInProgress = 7,           /* the operation has not finished yet (chorusWaitTimeout) */
  chorusTimeout = 8,              /* the operation did not finish within the timeout */
  chorusMismatch = 9,             /* the ranks issued different collectives at one place */
  chorusAborted = 10,             /* the communicator was aborted, here or on another rank */
  chorusClosed = 11,              /* the communicator was destroyed while the operation waited */
  chorusNumResults = 12
} chorusResult_t;

/* Element types, numbered as NCCL's ncclDataType_t. */
typedef enum {
  chorusInt8 = 0,
  chorusChar = 0,
  chorusUint8 = 1,
  chorusInt32 = 2,
  chorusInt = 2,
  chorusUint32 = 3,
  chorusInt64 = 4,
  chorusUint64 = 5,
  chorusFloat16 = 6,
  chorusHalf = 6,
  chorusFloat32 = 7,
  chorusFloat = 7,
  chorusFloat64 = 8,
  chorusDouble = 8,
  chorusBfloat16 = 9,
  chorusNumTypes = 10
} chorusDataType_t;

/* Reduction operators, numbered as NCCL's ncclRedOp_t. chorusAvg sums, then divides by the
 * number of ranks (integers truncate toward zero). */
typedef enum {
  chorusSum = 0,
  chorusProd = 1,
  chorusMax = 2,
  chorusMin = 3,
  chorusAvg = 4,
  chorusNumOps = 5
} chorusRedOp_t;

/* Opaque handles. NULL is never a valid handle. */
typedef struct chorusComm* chorusComm_t;
typedef struct chorusRequest* chorusRequest_t;
typedef struct chorusStore* chorusStore_t;
typedef struct chorusServer* chorusServer_t;

/* chorusConfig_t tunes chorusCommInitRankConfig. Start from CHORUS_CONFIG_INITIALIZER, which
 * sets size; every other field's zero value means "the default" as documented. */
typedef struct {
  size_t size;           /* sizeof(chorusConfig_t) */
  int timeout_ms;        /* bound on each operation; 0: CHORUS_TIMEOUT, else 5 minutes */
  int init_timeout_ms;   /* bound on joining the group; 0: 2 minutes */
  const char* prefix;    /* namespace of this group's keys in the store; NULL or "": "chorus" */
  const char* listen;    /* host:port this rank listens on; NULL: CHORUS_LISTEN, else the
                            address of the interface that reaches the store, any port */
  const char* algorithms; /* algorithm choice, as CHORUS_ALGO ("ring", "allreduce=tree");
                             NULL: CHORUS_ALGO, else the cost model chooses */
} chorusConfig_t;

#define CHORUS_CONFIG_INITIALIZER { sizeof(chorusConfig_t), 0, 0, NULL, NULL, NULL }

#ifndef CHORUS_NO_PROTOTYPES

/* ---- Version and errors ---- */

/* chorusGetVersion stores CHORUS_VERSION_CODE of the library in *version. */
chorusResult_t chorusGetVersion(int* version);

/* chorusGetErrorString returns a short, static description of a result code. */
const char* chorusGetErrorString(chorusResult_t result);

/* chorusGetLastError returns the message of the last failed call made by the calling thread
 * ("" when none failed), such as "chorus: allreduce seq 3: rank 2: chorus: timed out after
 * 5m0s waiting for rank 2 (step 1, recv)". comm is ignored (it may be NULL); it is there
 * for NCCL's signature. The string stays valid until the thread's next failed call. */
const char* chorusGetLastError(chorusComm_t comm);

/* ---- Memory ---- */

/* chorusMemAlloc allocates size bytes of shared memory, zeroed, and stores its address in *ptr
 * (NCCL's ncclMemAlloc). Ranks of one host lend each other the large messages of collectives
 * whose buffers lie in such memory: the receiving rank reads (or reduces) them straight out of
 * the sender's buffer instead of a copy through the shared-memory ring. Any collective may use
 * it, like any other memory. Give it back with chorusMemFree. */
chorusResult_t chorusMemAlloc(void** ptr, size_t size);

/* chorusMemFree gives back memory from chorusMemAlloc (ptr: the address it stored), once no
 * operation uses it. */
chorusResult_t chorusMemFree(void* ptr);

/* ---- Communicators ---- */

/* chorusCommInitRank joins a group of nranks ranks as rank (0..nranks-1) and returns its
 * communicator once every rank has arrived. The ranks meet through the rendezvous store at url:
 *   tcp://host:port   a Chorus store server (chorusRendezvousServe, or `chorus run`), which
 *                     authenticates with secret (NULL or "": none; the server must agree)
 *   file:///dir       a directory every rank can see (secret ignored)
 *   env://            the store the environment names (CHORUS_RDZV, or MASTER_ADDR and
 *                     MASTER_PORT), with CHORUS_SECRET when secret is NULL
 * Ranks of one host talk through shared memory, others over QUIC (TLS 1.3): each makes its
 * own key, publishes its fingerprint in the store, and accepts only published keys. It fails (chorusTimeout, naming the missing ranks)
 * when not every rank arrives within the init timeout. */
chorusResult_t chorusCommInitRank(chorusComm_t* comm, int nranks, int rank, const char* url,
                                  const char* secret);

/* chorusCommInitRankConfig is chorusCommInitRank with a configuration (NULL: the defaults). */
chorusResult_t chorusCommInitRankConfig(chorusComm_t* comm, int nranks, int rank,
                                        const char* url, const char* secret,
                                        const chorusConfig_t* config);

/* chorusCommInitFromEnv joins the job the environment describes, as `chorus run`, Slurm or
 * Open MPI set it up: rank and size from CHORUS_RANK and CHORUS_SIZE (or torchrun's RANK and
 * WORLD_SIZE, SLURM_PROCID and SLURM_NTASKS, OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE),
 * the store from CHORUS_RDZV (or MASTER_ADDR:MASTER_PORT; it must be a Chorus store), the
 * secret from CHORUS_SECRET. It fails when the store cannot be reached or not every rank has
 * arrived within 2 minutes. */
chorusResult_t chorusCommInitFromEnv(chorusComm_t* comm);

/* chorusCommDestroy ends the communicator and frees the handle. Operations still pending fail
 * with chorusClosed. It waits (at most 10 s) until every peer has destroyed its communicator
 * too, so that nothing a peer still needs is lost. */
chorusResult_t chorusCommDestroy(chorusComm_t comm);

/* chorusCommAbort aborts the communicator on every rank (the peers are told; their pending
 * and later calls fail with chorusAborted) and frees the handle. It returns at once; the
 * connections are released in the background. */
chorusResult_t chorusCommAbort(chorusComm_t comm);

/* chorusCommAbortWithReason is chorusCommAbort with a reason that every rank's error message
 * quotes (NULL: "aborted by the application"). */
chorusResult_t chorusCommAbortWithReason(chorusComm_t comm, const char* reason);

/* chorusCommGetAsyncError stores chorusSuccess in *asyncError while the communicator works,
 * and the code of the failure once it has been aborted (then chorusGetLastError on this thread
 * gives the message). */
chorusResult_t chorusCommGetAsyncError(chorusComm_t comm, chorusResult_t* asyncError);

/* chorusCommCount stores the number of ranks in *count. */
chorusResult_t chorusCommCount(const chorusComm_t comm, int* count);

/* chorusCommUserRank stores this rank in *rank. */
chorusResult_t chorusCommUserRank(const chorusComm_t comm, int* rank);

/* ---- Collectives (blocking) ----
 * Counts are numbers of elements. A collective that takes sendbuff and recvbuff is in place
 * when they are the same pointer (all-gather: sendbuff == recvbuff + rank * sendcount;
 * reduce-scatter: recvbuff == sendbuff + rank * recvcount). Any other overlap is an error. */

/* chorusAllReduce reduces count elements of sendbuff over all ranks with op and leaves the
 * result in recvbuff on every rank, bitwise identical on all of them. */
chorusResult_t chorusAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                               chorusDataType_t datatype, chorusRedOp_t op, chorusComm_t comm);

/* chorusBroadcast copies count elements of root's sendbuff into every rank's recvbuff.
 * sendbuff is read on root only. */
chorusResult_t chorusBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                               chorusDataType_t datatype, int root, chorusComm_t comm);

/* chorusReduce reduces count elements of sendbuff over all ranks into root's recvbuff.
 * recvbuff is written on root only (others may pass NULL). */
chorusResult_t chorusReduce(const void* sendbuff, void* recvbuff, size_t count,
                            chorusDataType_t datatype, chorusRedOp_t op, int root,
                            chorusComm_t comm);

/* chorusAllGather concatenates every rank's sendcount elements into recvbuff (nranks *
 * sendcount elements), in rank order. */
chorusResult_t chorusAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                               chorusDataType_t datatype, chorusComm_t comm);

/* chorusReduceScatter reduces nranks * recvcount elements of sendbuff over all ranks and
 * leaves the rank-th block of recvcount elements in recvbuff. */
chorusResult_t chorusReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                   chorusDataType_t datatype, chorusRedOp_t op,
                                   chorusComm_t comm);

/* chorusAllToAll sends the j-th block of count elements of sendbuff to rank j, which stores it
 * as the i-th block of its recvbuff (i the sender). Both buffers hold nranks * count elements. */
chorusResult_t chorusAllToAll(const void* sendbuff, void* recvbuff, size_t count,
                              chorusDataType_t datatype, chorusComm_t comm);

/* chorusGather concatenates every rank's sendcount elements into root's recvbuff. */
chorusResult_t chorusGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                            chorusDataType_t datatype, int root, chorusComm_t comm);

/* chorusScatter sends the i-th block of recvcount elements of root's sendbuff to rank i. */
chorusResult_t chorusScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                             chorusDataType_t datatype, int root, chorusComm_t comm);

/* chorusSend sends count elements to rank peer, which receives them with chorusRecv. A send
 * may complete only when the peer receives it: two ranks that send to each other use the
 * Async form for one direction. */
chorusResult_t chorusSend(const void* sendbuff, size_t count, chorusDataType_t datatype,
                          int peer, chorusComm_t comm);

/* chorusRecv receives count elements from rank peer into recvbuff. */
chorusResult_t chorusRecv(void* recvbuff, size_t count, chorusDataType_t datatype, int peer,
                          chorusComm_t comm);

/* chorusBarrier returns once every rank has called it. */
chorusResult_t chorusBarrier(chorusComm_t comm);

/* ---- Collectives (asynchronous) ----
 * Each starts the operation, stores its request in *request and returns at once. A bad
 * argument, or a communicator that is already aborted, fails the call itself (no request is
 * made). Free every request with chorusRequestFree after it has finished. Collectives finish
 * in the order they were issued; sends and receives do not wait for the collectives issued
 * before them (wait for a collective before sending what it wrote). */

chorusResult_t chorusAllReduceAsync(const void* sendbuff, void* recvbuff, size_t count,
                                    chorusDataType_t datatype, chorusRedOp_t op,
                                    chorusComm_t comm, chorusRequest_t* request);
chorusResult_t chorusBroadcastAsync(const void* sendbuff, void* recvbuff, size_t count,
                                    chorusDataType_t datatype, int root, chorusComm_t comm,
                                    chorusRequest_t* request);
chorusResult_t chorusReduceAsync(const void* sendbuff, void* recvbuff, size_t count,
                                 chorusDataType_t datatype, chorusRedOp_t op, int root,
                                 chorusComm_t comm, chorusRequest_t* request);
chorusResult_t chorusAllGatherAsync(const void* sendbuff, void* recvbuff, size_t sendcount,
                                    chorusDataType_t datatype, chorusComm_t comm,
                                    chorusRequest_t* request);
chorusResult_t chorusReduceScatterAsync(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        chorusDataType_t datatype, chorusRedOp_t op,
                                        chorusComm_t comm, chorusRequest_t* request);
chorusResult_t chorusAllToAllAsync(const void* sendbuff, void* recvbuff, size_t count,
                                   chorusDataType_t datatype, chorusComm_t comm,
                                   chorusRequest_t* request);
chorusResult_t chorusGatherAsync(const void* sendbuff, void* recvbuff, size_t sendcount,
                                 chorusDataType_t datatype, int root, chorusComm_t comm,
                                 chorusRequest_t* request);
chorusResult_t chorusScatterAsync(const void* sendbuff, void* recvbuff, size_t recvcount,
                                  chorusDataType_t datatype, int root, chorusComm_t comm,
                                  chorusRequest_t* request);
chorusResult_t chorusSendAsync(const void* sendbuff, size_t count, chorusDataType_t datatype,
                               int peer, chorusComm_t comm, chorusRequest_t* request);
chorusResult_t chorusRecvAsync(void* recvbuff, size_t count, chorusDataType_t datatype,
                               int peer, chorusComm_t comm, chorusRequest_t* request);
chorusResult_t chorusBarrierAsync(chorusComm_t comm, chorusRequest_t* request);

/* chorusWait blocks until the request's operation has finished and returns its result. */
chorusResult_t chorusWait(chorusRequest_t request);

/* chorusWaitTimeout is chorusWait for at most timeout_ms milliseconds (0: just look); it
 * returns chorusInProgress when the operation has not finished by then. */
chorusResult_t chorusWaitTimeout(chorusRequest_t request, int timeout_ms);

/* chorusTest stores 1 in *done and returns the operation's result when it has finished;
 * otherwise it stores 0 and returns chorusSuccess. It never blocks. */
chorusResult_t chorusTest(chorusRequest_t request, int* done);

/* chorusRequestFree frees a finished request. A request still running is not freed
 * (chorusInvalidUsage): wait for it first. */
chorusResult_t chorusRequestFree(chorusRequest_t request);

/* ---- Rendezvous: the store ranks meet through ----
 * A launcher, or rank 0, serves a store; every rank passes its URL to chorusCommInitRank. */

/* chorusRendezvousServe serves a new, empty store on listen (host:port; port 0 picks a free
 * one) to clients that hold secret (NULL or "": no authentication). */
chorusResult_t chorusRendezvousServe(const char* listen, const char* secret,
                                     chorusServer_t* server);

/* chorusRendezvousURL writes the server's URL ("tcp://host:port", NUL-terminated) into buf;
 * it fails with chorusInvalidArgument when len is too small. */
chorusResult_t chorusRendezvousURL(chorusServer_t server, char* buf, size_t len);

/* chorusRendezvousStop stops the server and frees the handle. Communicators already made
 * through it keep working. */
chorusResult_t chorusRendezvousStop(chorusServer_t server);

/* chorusStoreOpen connects to the store at url (the forms of chorusCommInitRank), retrying
 * for at most timeout_ms (0: 2 minutes) while a tcp server is not up yet. */
chorusResult_t chorusStoreOpen(const char* url, const char* secret, int timeout_ms,
                               chorusStore_t* store);

/* chorusStoreSet stores len bytes of value under key (a NUL-terminated string). */
chorusResult_t chorusStoreSet(chorusStore_t store, const char* key, const void* value,
                              size_t len);

/* chorusStoreGet waits at most timeout_ms (0: 2 minutes) for key to exist, stores the length
 * of its value in *len and copies min(*len, capacity) bytes of it into value. Call again with
 * a larger buffer when *len > capacity. It fails with chorusTimeout when the key does not
 * appear in time. */
chorusResult_t chorusStoreGet(chorusStore_t store, const char* key, void* value,
                              size_t capacity, size_t* len, int timeout_ms);

/* chorusStoreAdd adds delta to the counter under key (missing: 0) and stores the new value in
 * *result. */
chorusResult_t chorusStoreAdd(chorusStore_t store, const char* key, int64_t delta,
                              int64_t* result);

/* chorusStoreWait waits at most timeout_ms (0: look once, without waiting) until all nkeys
 * keys exist; chorusTimeout when they do not. */
chorusResult_t chorusStoreWait(chorusStore_t store, const char* const* keys, int nkeys,
                               int timeout_ms);

/* chorusStoreCompareSet sets key to desired when its value equals expected (or when the key
 * is missing and expectedLen is 0) and returns the value after the call as chorusStoreGet
 * does (*len = 0 when the key stays missing). */
chorusResult_t chorusStoreCompareSet(chorusStore_t store, const char* key, const void* expected,
                                     size_t expectedLen, const void* desired, size_t desiredLen,
                                     void* value, size_t capacity, size_t* len);

/* chorusStoreClose closes the connection to the store and frees the handle. */
chorusResult_t chorusStoreClose(chorusStore_t store);

#endif /* CHORUS_NO_PROTOTYPES */

#ifdef __cplusplus
}
#endif

#endif /* CHORUS_H_ */
