// The parts of the C ABI written in C: the per-thread last error, the result strings, and the
// allocation of handles.

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chorus.h"

// The calling thread's last error lives in a buffer reached through a pthread key, not in a
// __thread array: a library loaded with dlopen (Python's ctypes) gets little static TLS, and
// programs such as PyTorch use it up.
#define LAST_ERROR_SIZE 4096

static pthread_once_t lastErrorOnce = PTHREAD_ONCE_INIT;
static pthread_key_t lastErrorKey;
static int lastErrorKeyOK;

static void makeLastErrorKey(void) { lastErrorKeyOK = pthread_key_create(&lastErrorKey, free) == 0; }

// lastErrorBuffer returns the calling thread's buffer, made on first use, or NULL when memory
// runs out.
static char* lastErrorBuffer(void) {
  pthread_once(&lastErrorOnce, makeLastErrorKey);
  if (!lastErrorKeyOK) {
    return NULL;
  }
  char* buf = pthread_getspecific(lastErrorKey);
  if (buf == NULL) {
    buf = calloc(1, LAST_ERROR_SIZE);
    if (buf == NULL || pthread_setspecific(lastErrorKey, buf) != 0) {
      free(buf);
      return NULL;
    }
  }
  return buf;
}

// chorus_set_last_error copies the n bytes of msg (not NUL-terminated) into the calling
// thread's last error, cut to fit.
__attribute__((visibility("hidden"))) void chorus_set_last_error(const char* msg, size_t n) {
  char* buf = lastErrorBuffer();
  if (buf == NULL) {
    return;
  }
  if (n >= LAST_ERROR_SIZE) {
    n = LAST_ERROR_SIZE - 1;
  }
  memcpy(buf, msg, n);
  buf[n] = '\0';
}

const char* chorusGetLastError(chorusComm_t comm) {
  (void)comm;
  char* buf = lastErrorBuffer();
  return buf != NULL ? buf : "chorus: out of memory for the last error";
}

const char* chorusGetErrorString(chorusResult_t result) {
  switch (result) {
    case chorusSuccess:
      return "no error";
    case chorusUnhandledDeviceError:
      return "unhandled device error";
    case chorusSystemError:
      return "system error (network, socket or operating system)";
    case chorusInternalError:
      return "internal error (a bug in Chorus)";
    case chorusInvalidArgument:
      return "invalid argument";
    case chorusInvalidUsage:
      return "invalid usage";
    case chorusRemoteError:
      return "remote error (a peer failed or left)";
    case chorusInProgress:
      return "operation in progress";
    case chorusTimeout:
      return "timed out";
    case chorusMismatch:
      return "collective mismatch (the ranks issued different calls)";
    case chorusAborted:
      return "communicator aborted";
    case chorusClosed:
      return "communicator closed";
    default:
      return "unknown result code";
  }
}

// chorus_handle_new returns a fresh address to serve as a handle: a one-byte allocation that
// chorus_handle_free releases. Handles are real C addresses, so they are never NULL, never Go
// pointers, and unique while they live.
__attribute__((visibility("hidden"))) void* chorus_handle_new(void) { return malloc(1); }

__attribute__((visibility("hidden"))) void chorus_handle_free(void* h) { free(h); }
