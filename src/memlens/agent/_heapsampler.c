/*
 * memlens's sampling heap profiler: PEP 445 hooks that sample allocations by bytes.
 *
 * The hooks wrap whatever allocators are installed over the RAW, MEM and OBJ domains.
 * Every allocation subtracts its size from a countdown; when the countdown runs out the
 * allocation is sampled and a new countdown is drawn from an exponential distribution
 * whose mean is the sampling interval (512 KiB by default, as Go's MemProfileRate). So
 * an allocation of s bytes is sampled with probability 1 - exp(-s/R), and a sample
 * stands for s / (1 - exp(-s/R)) bytes: the estimates are unbiased.
 *
 * A sampled block's Python stack (code object and line, up to 128 frames) is interned
 * in a table of stacks, and the block goes into a table of live samples. Frees check a
 * counting filter indexed by a hash of the pointer: for an unsampled block that is one
 * load and a test; only a filter hit takes the lock and looks the block up.
 *
 * Threads: MEM and OBJ are called with the GIL held, which guards the countdown, the
 * stacks and the re-entrancy flag. RAW may be called without the GIL: its allocations
 * are sampled only when the calling thread holds the GIL; its frees may come from any
 * thread, so the live table and the filter are guarded by a mutex, taken only on the
 * slow paths. Allocations made while a sample is being taken (the frames the capture
 * may create) are never sampled. Free-threaded builds are not supported.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h> /* PyFrame_GetBack, before 3.11 */
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAMES 128
#define FILTER_BITS 16
#define FILTER_SLOTS (1u << FILTER_BITS)
#define MAX_STACKS (1u << 20)
#define TOMBSTONE ((void *)1)

typedef struct {
    PyCodeObject *code; /* a strong reference, held by the stacks table */
    int line;
} frame_t;

typedef struct {
    uint64_t hash;
    uint32_t depth;
    uint32_t truncated;
    double alloc_bytes; /* estimated bytes allocated at this stack since the start */
    double alloc_count;
    frame_t frames[]; /* the allocating frame first */
} stack_t;

typedef struct {
    void *ptr; /* NULL: empty; TOMBSTONE: removed */
    size_t size;
    uint32_t stack;
} live_t;

typedef struct {
    PyMemAllocatorEx orig;
    int raw;
} hook_ctx;

static hook_ctx ctx_raw = {.raw = 1}, ctx_mem, ctx_obj;
static PyMemAllocatorEx hook_raw, hook_mem, hook_obj;

/* Guarded by the GIL. */
static int installed;          /* our hooks are in the chain */
static int running;            /* and sampling (else the hooks only pass through) */
static int in_sample;          /* a sample (or a snapshot) is being taken */
static int in_alloc;           /* inside a MEM or OBJ allocator, which may call RAW's */
static double interval = 524288.0;
static int max_frames = MAX_FRAMES;
static Py_ssize_t countdown;
static uint64_t rng_state = 0x853c49e6748fea9bull;
static stack_t **stacks;       /* id -> stack; id 0 is the empty stack */
static uint32_t n_stacks, cap_stacks;
static uint32_t *stack_slots;  /* open addressing over hashes: id + 1, 0 empty */
static uint32_t stack_slot_cap;
static size_t stack_bytes;
static frame_t capture_buf[MAX_FRAMES];
static uint64_t sampled_total; /* samples taken since the start */

/* Guarded by live_lock (frees of RAW blocks may come without the GIL). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static live_t *live;
static size_t live_cap, live_used, live_count;
static uint32_t filter[FILTER_SLOTS];
static int atfork_registered;

/* ------------------------------------------------------------------ random draws */

static uint64_t next_random(void)
{
    /* xorshift64* */
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static Py_ssize_t draw_interval(void)
{
    /* u in (0, 1]: 53 random bits */
    double u = ((double)(next_random() >> 11) + 1.0) / 9007199254740992.0;
    double n = -log(u) * interval;
    if (n > 4e18)
        n = 4e18;
    return (Py_ssize_t)n + 1;
}

static void seed_random(uint64_t seed)
{
    rng_state = seed ? seed : 0x853c49e6748fea9bull;
    for (int i = 0; i < 4; i++)
        (void)next_random();
}

/* ------------------------------------------------------------------ live table */

static inline size_t filter_slot(const void *ptr)
{
    uint64_t x = (uint64_t)(uintptr_t)ptr;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> (64 - FILTER_BITS));
}

static inline size_t ptr_hash(const void *ptr)
{
    uint64_t x = (uint64_t)(uintptr_t)ptr;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

/* Called with live_lock held. Uses libc's allocator, never the hooked domains. */
static int live_grow(void)
{
    size_t new_cap = live_cap ? live_cap * 2 : 1024;
    live_t *table = calloc(new_cap, sizeof(live_t));
    if (table == NULL)
        return -1;
    for (size_t i = 0; i < live_cap; i++) {
        void *ptr = live[i].ptr;
        if (ptr == NULL || ptr == TOMBSTONE)
            continue;
        size_t j = ptr_hash(ptr) & (new_cap - 1);
        while (table[j].ptr != NULL)
            j = (j + 1) & (new_cap - 1);
        table[j] = live[i];
    }
    free(live);
    live = table;
    live_cap = new_cap;
    live_used = live_count;
    return 0;
}

static void live_insert(void *ptr, size_t size, uint32_t stack)
{
    if ((live_used + 1) * 4 >= live_cap * 3 && live_grow() < 0)
        return; /* out of memory: the sample is lost, the program goes on */
    size_t mask = live_cap - 1;
    size_t j = ptr_hash(ptr) & mask;
    size_t tomb = (size_t)-1;
    while (live[j].ptr != NULL) {
        if (live[j].ptr == ptr) { /* a block freed behind our back: reuse its entry */
            filter[filter_slot(ptr)]--;
            live_count--;
            tomb = j;
            break;
        }
        if (live[j].ptr == TOMBSTONE && tomb == (size_t)-1)
            tomb = j;
        j = (j + 1) & mask;
    }
    if (tomb != (size_t)-1)
        j = tomb;
    else
        live_used++;
    live[j].ptr = ptr;
    live[j].size = size;
    live[j].stack = stack;
    live_count++;
    filter[filter_slot(ptr)]++;
}

static void live_remove(void *ptr)
{
    pthread_mutex_lock(&live_lock);
    if (live_cap) {
        size_t mask = live_cap - 1;
        size_t j = ptr_hash(ptr) & mask;
        while (live[j].ptr != NULL) {
            if (live[j].ptr == ptr) {
                live[j].ptr = TOMBSTONE;
                live_count--;
                filter[filter_slot(ptr)]--;
                break;
            }
            j = (j + 1) & mask;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

/* Called with live_lock held, or in a fork's child. */
static void live_clear(void)
{
    for (size_t i = 0; i < live_cap; i++) {
        void *ptr = live[i].ptr;
        if (ptr != NULL && ptr != TOMBSTONE)
            filter[filter_slot(ptr)] = 0;
    }
    free(live);
    live = NULL;
    live_cap = live_used = live_count = 0;
}

/* ------------------------------------------------------------------ stacks */

static int capture(frame_t *buf, int limit, int *truncated)
{
    int depth = 0;
    *truncated = 0;
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *tstate = PyThreadState_GetUnchecked();
#else
    PyThreadState *tstate = _PyThreadState_UncheckedGet();
#endif
    if (tstate == NULL)
        return 0;
    PyFrameObject *frame = PyThreadState_GetFrame(tstate); /* a new reference */
    while (frame != NULL) {
        if (depth == limit) {
            *truncated = 1;
            Py_DECREF(frame);
            break;
        }
        buf[depth].code = PyFrame_GetCode(frame); /* a new reference */
        buf[depth].line = PyFrame_GetLineNumber(frame);
        depth++;
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    return depth;
}

static uint64_t stack_hash(const frame_t *buf, int depth, int truncated)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)truncated;
    for (int i = 0; i < depth; i++) {
        h ^= (uint64_t)(uintptr_t)buf[i].code;
        h *= 0x100000001b3ull;
        h ^= (uint64_t)(uint32_t)buf[i].line;
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static int stack_slots_grow(void)
{
    uint32_t new_cap = stack_slot_cap ? stack_slot_cap * 2 : 1024;
    uint32_t *slots = calloc(new_cap, sizeof(uint32_t));
    if (slots == NULL)
        return -1;
    for (uint32_t id = 0; id < n_stacks; id++) {
        uint32_t j = (uint32_t)stacks[id]->hash & (new_cap - 1);
        while (slots[j])
            j = (j + 1) & (new_cap - 1);
        slots[j] = id + 1;
    }
    free(stack_slots);
    stack_slots = slots;
    stack_slot_cap = new_cap;
    return 0;
}

static stack_t *stack_new(const frame_t *buf, int depth, int truncated, uint64_t hash)
{
    size_t size = sizeof(stack_t) + (size_t)depth * sizeof(frame_t);
    stack_t *stack = malloc(size);
    if (stack == NULL)
        return NULL;
    stack->hash = hash;
    stack->depth = (uint32_t)depth;
    stack->truncated = (uint32_t)truncated;
    stack->alloc_bytes = stack->alloc_count = 0.0;
    if (depth)
        memcpy(stack->frames, buf, (size_t)depth * sizeof(frame_t));
    stack_bytes += size;
    return stack;
}

/* The stack's id; takes over the references in buf (dropping them when it is known). */
static uint32_t intern_stack(frame_t *buf, int depth, int truncated)
{
    uint64_t hash = stack_hash(buf, depth, truncated);
    if ((n_stacks + 1) * 2 >= stack_slot_cap && stack_slots_grow() < 0)
        goto fallback;
    uint32_t mask = stack_slot_cap - 1;
    uint32_t j = (uint32_t)hash & mask;
    while (stack_slots[j]) {
        stack_t *known = stacks[stack_slots[j] - 1];
        if (known->hash == hash && known->depth == (uint32_t)depth &&
            known->truncated == (uint32_t)truncated &&
            memcmp(known->frames, buf, (size_t)depth * sizeof(frame_t)) == 0) {
            for (int i = 0; i < depth; i++)
                Py_DECREF(buf[i].code);
            return stack_slots[j] - 1;
        }
        j = (j + 1) & mask;
    }
    if (n_stacks >= MAX_STACKS)
        goto fallback;
    if (n_stacks == cap_stacks) {
        uint32_t new_cap = cap_stacks ? cap_stacks * 2 : 256;
        stack_t **grown = realloc(stacks, new_cap * sizeof(stack_t *));
        if (grown == NULL)
            goto fallback;
        stacks = grown;
        cap_stacks = new_cap;
    }
    stack_t *stack = stack_new(buf, depth, truncated, hash);
    if (stack == NULL)
        goto fallback;
    stacks[n_stacks] = stack;
    stack_slots[j] = n_stacks + 1;
    return n_stacks++;
fallback:
    /* Out of memory, or a million distinct stacks: the sample counts at the empty one. */
    for (int i = 0; i < depth; i++)
        Py_DECREF(buf[i].code);
    return 0;
}

static void stacks_clear(void)
{
    for (uint32_t id = 0; id < n_stacks; id++) {
        stack_t *stack = stacks[id];
        for (uint32_t i = 0; i < stack->depth; i++)
            Py_DECREF(stack->frames[i].code);
        free(stack);
    }
    free(stacks);
    free(stack_slots);
    stacks = NULL;
    stack_slots = NULL;
    n_stacks = cap_stacks = stack_slot_cap = 0;
    stack_bytes = 0;
}

static int stacks_init(void)
{
    /* id 0: the empty stack, where samples without a Python frame go */
    if (stack_slots_grow() < 0)
        return -1;
    stacks = malloc(256 * sizeof(stack_t *));
    if (stacks == NULL)
        return -1;
    cap_stacks = 256;
    stacks[0] = stack_new(NULL, 0, 0, stack_hash(NULL, 0, 0));
    if (stacks[0] == NULL)
        return -1;
    stack_slots[(uint32_t)stacks[0]->hash & (stack_slot_cap - 1)] = 1;
    n_stacks = 1;
    return 0;
}

/* ------------------------------------------------------------------ the hooks */

static inline double weight_of(size_t size)
{
    double p = -expm1(-(double)size / interval); /* 1 - exp(-s/R), exact for small s/R */
    return p > 0.0 ? 1.0 / p : 1.0;
}

static void take_sample(void *ptr, size_t size)
{
    if (!running) { /* paused at exit: pass through, rarely coming here again */
        countdown = PY_SSIZE_T_MAX / 2;
        return;
    }
    countdown = draw_interval();
    if (in_sample)
        return;
    in_sample = 1;
    int truncated = 0, depth = 0;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *raised = PyErr_GetRaisedException();
#else
    PyObject *etype, *evalue, *etb;
    PyErr_Fetch(&etype, &evalue, &etb);
#endif
    /* Making the frame objects may allocate GC-tracked objects; a collection run from
       inside an allocator could run any finaliser in the middle of the interpreter. */
    int gc_was_enabled = PyGC_Disable();
    depth = capture(capture_buf, max_frames, &truncated);
    if (gc_was_enabled)
        PyGC_Enable();
    if (PyErr_Occurred())
        PyErr_Clear();
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(raised);
#else
    PyErr_Restore(etype, evalue, etb);
#endif
    uint32_t id = intern_stack(capture_buf, depth, truncated);
    double w = weight_of(size);
    stacks[id]->alloc_bytes += (double)size * w;
    stacks[id]->alloc_count += w;
    sampled_total++;
    pthread_mutex_lock(&live_lock);
    live_insert(ptr, size, id);
    pthread_mutex_unlock(&live_lock);
    in_sample = 0;
}

static inline void forget(void *ptr)
{
    if (ptr != NULL && filter[filter_slot(ptr)])
        live_remove(ptr);
}

/* MEM and OBJ: called with the GIL held. pymalloc hands blocks over 512 bytes (less the
   debug hooks' header) to the RAW domain: `in_alloc` tells RAW's hooks that such a block
   is already counted here. Small requests never reach RAW, so they skip the flag. */
#define MAY_REACH_RAW 256

static void *obj_malloc(void *ctx, size_t size)
{
    hook_ctx *hook = ctx;
    void *ptr;
    if (size > MAY_REACH_RAW) {
        in_alloc++;
        ptr = hook->orig.malloc(hook->orig.ctx, size);
        in_alloc--;
    } else {
        ptr = hook->orig.malloc(hook->orig.ctx, size);
    }
    if ((countdown -= (Py_ssize_t)size) <= 0 && ptr != NULL)
        take_sample(ptr, size);
    return ptr;
}

static void *obj_calloc(void *ctx, size_t nelem, size_t elsize)
{
    hook_ctx *hook = ctx;
    size_t size = nelem * elsize;
    in_alloc++;
    void *ptr = hook->orig.calloc(hook->orig.ctx, nelem, elsize);
    in_alloc--;
    if ((countdown -= (Py_ssize_t)size) <= 0 && ptr != NULL)
        take_sample(ptr, size);
    return ptr;
}

static void *obj_realloc(void *ctx, void *old, size_t size)
{
    hook_ctx *hook = ctx;
    forget(old);
    void *ptr;
    if (size > MAY_REACH_RAW || old != NULL) {
        in_alloc++;
        ptr = hook->orig.realloc(hook->orig.ctx, old, size);
        in_alloc--;
    } else {
        ptr = hook->orig.realloc(hook->orig.ctx, old, size);
    }
    if ((countdown -= (Py_ssize_t)size) <= 0 && ptr != NULL)
        take_sample(ptr, size);
    return ptr;
}

/* RAW: may be called without the GIL, so its allocations are sampled only where the
   calling thread holds it (which also guards the countdown). */
static inline int raw_may_sample(void)
{
    return !in_alloc && PyGILState_Check();
}

static int ours(PyMemAllocatorDomain domain, hook_ctx *hook);

/* A RAW sample is taken only while memlens's hook is the top of the RAW chain. A tool
   hooked above it may hold a lock of its own while it calls down into RAW (tracemalloc
   does, copying its tables for a snapshot), and the frame objects a capture makes are
   announced to that same tool (tracemalloc's new-reference hook), which would wait on
   that lock for ever. Checked only when the countdown runs out. */
static void take_raw_sample(void *ptr, size_t size)
{
    if (ours(PYMEM_DOMAIN_RAW, &ctx_raw))
        take_sample(ptr, size);
    else
        countdown = draw_interval();
}

static void *raw_malloc(void *ctx, size_t size)
{
    hook_ctx *hook = ctx;
    void *ptr = hook->orig.malloc(hook->orig.ctx, size);
    if (ptr != NULL && raw_may_sample() && (countdown -= (Py_ssize_t)size) <= 0)
        take_raw_sample(ptr, size);
    return ptr;
}

static void *raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    hook_ctx *hook = ctx;
    void *ptr = hook->orig.calloc(hook->orig.ctx, nelem, elsize);
    size_t size = nelem * elsize;
    if (ptr != NULL && raw_may_sample() && (countdown -= (Py_ssize_t)size) <= 0)
        take_raw_sample(ptr, size);
    return ptr;
}

static void *raw_realloc(void *ctx, void *old, size_t size)
{
    hook_ctx *hook = ctx;
    forget(old);
    void *ptr = hook->orig.realloc(hook->orig.ctx, old, size);
    if (ptr != NULL && raw_may_sample() && (countdown -= (Py_ssize_t)size) <= 0)
        take_raw_sample(ptr, size);
    return ptr;
}

static void hook_free(void *ctx, void *ptr)
{
    hook_ctx *hook = ctx;
    forget(ptr);
    hook->orig.free(hook->orig.ctx, ptr);
}

/* ------------------------------------------------------------------ fork */

static void before_fork(void) { pthread_mutex_lock(&live_lock); }

static void after_fork_parent(void) { pthread_mutex_unlock(&live_lock); }

static void after_fork_child(void)
{
    /* The child starts clean: no live samples, nothing allocated yet, a new draw. */
    pthread_mutex_init(&live_lock, NULL);
    live_clear();
    for (uint32_t id = 0; id < n_stacks; id++)
        stacks[id]->alloc_bytes = stacks[id]->alloc_count = 0.0;
    sampled_total = 0;
    seed_random(rng_state ^ ((uint64_t)getpid() << 32) ^ (uint64_t)getpid());
    countdown = draw_interval();
}

/* ------------------------------------------------------------------ the module */

static int ours(PyMemAllocatorDomain domain, hook_ctx *hook)
{
    PyMemAllocatorEx current;
    PyMem_GetAllocator(domain, &current);
    return current.ctx == hook && current.free == hook_free;
}

static void install(PyMemAllocatorDomain domain, hook_ctx *hook, PyMemAllocatorEx *ours_ex)
{
    PyMem_GetAllocator(domain, &hook->orig);
    ours_ex->ctx = hook;
    ours_ex->malloc = hook->raw ? raw_malloc : obj_malloc;
    ours_ex->calloc = hook->raw ? raw_calloc : obj_calloc;
    ours_ex->realloc = hook->raw ? raw_realloc : obj_realloc;
    ours_ex->free = hook_free;
    PyMem_SetAllocator(domain, ours_ex);
}

static void reset_data(void)
{
    pthread_mutex_lock(&live_lock);
    live_clear();
    pthread_mutex_unlock(&live_lock);
    stacks_clear();
    sampled_total = 0;
}

static PyObject *sampler_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"interval", "frames", "seed", "raw", NULL};
    unsigned long long interval_arg = 524288, seed = 0;
    int frames = MAX_FRAMES, raw = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|KiKp", names, &interval_arg, &frames,
                                     &seed, &raw))
        return NULL;
    if (interval_arg < 1 || interval_arg > (1ull << 40)) {
        PyErr_SetString(PyExc_ValueError, "interval must be from 1 byte to 1 TiB");
        return NULL;
    }
    if (frames < 1 || frames > MAX_FRAMES) {
        PyErr_Format(PyExc_ValueError, "frames must be from 1 to %d", MAX_FRAMES);
        return NULL;
    }
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "the heap sampler is already running");
        return NULL;
    }
    if (!atfork_registered) {
        if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "cannot register the sampler's fork handlers");
            return NULL;
        }
        atfork_registered = 1;
    }
    reset_data();
    if (stacks_init() < 0) {
        stacks_clear();
        return PyErr_NoMemory();
    }
    interval = (double)interval_arg;
    max_frames = frames;
    seed_random(seed ? seed : ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&seed ^
                                  (uint64_t)time(NULL));
    countdown = draw_interval();
    if (raw)
        install(PYMEM_DOMAIN_RAW, &ctx_raw, &hook_raw);
    install(PYMEM_DOMAIN_MEM, &ctx_mem, &hook_mem);
    install(PYMEM_DOMAIN_OBJ, &ctx_obj, &hook_obj);
    ctx_raw.raw = 1;
    installed = raw ? 2 : 1;
    running = 1;
    Py_RETURN_NONE;
}

static PyObject *sampler_stop(PyObject *module, PyObject *unused)
{
    if (!installed)
        Py_RETURN_NONE;
    int with_raw = installed == 2;
    if ((with_raw && !ours(PYMEM_DOMAIN_RAW, &ctx_raw)) || !ours(PYMEM_DOMAIN_MEM, &ctx_mem) ||
        !ours(PYMEM_DOMAIN_OBJ, &ctx_obj)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "another allocator hook (such as tracemalloc's) was installed after "
                        "the heap sampler; stop that one first");
        return NULL;
    }
    running = 0;
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &ctx_obj.orig);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &ctx_mem.orig);
    if (with_raw)
        PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &ctx_raw.orig);
    installed = 0;
    reset_data();
    Py_RETURN_NONE;
}

static PyObject *sampler_pause(PyObject *module, PyObject *unused)
{
    /* At exit: the hooks stay in the chain but only pass through. */
    running = 0;
    Py_RETURN_NONE;
}

static PyObject *sampler_is_running(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(running);
}

static PyObject *pair(double a, double b)
{
    return Py_BuildValue("(dd)", a, b);
}

/* (live, allocated, live samples, samples taken):
   live: {stack id: (bytes, count, samples)}, allocated: {stack id: (bytes, count)} */
static PyObject *sampler_snapshot(PyObject *module, PyObject *unused)
{
    if (!installed) {
        PyErr_SetString(PyExc_RuntimeError, "the heap sampler is not running");
        return NULL;
    }
    in_sample = 1; /* what this builds is not sampled */
    PyObject *result = NULL, *live_dict = PyDict_New(), *alloc_dict = PyDict_New();
    live_t *copy = NULL;
    size_t n = 0;
    if (live_dict == NULL || alloc_dict == NULL)
        goto done;
    pthread_mutex_lock(&live_lock);
    if (live_count) {
        copy = malloc(live_count * sizeof(live_t));
        if (copy != NULL)
            for (size_t i = 0; i < live_cap; i++)
                if (live[i].ptr != NULL && live[i].ptr != TOMBSTONE)
                    copy[n++] = live[i];
    }
    pthread_mutex_unlock(&live_lock);
    if (live_count && copy == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* sums per stack, in a scratch array indexed by stack id */
    double *sums = calloc((size_t)n_stacks * 3 + 1, sizeof(double));
    if (sums == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        double w = weight_of(copy[i].size);
        double *s = sums + (size_t)copy[i].stack * 3;
        s[0] += (double)copy[i].size * w;
        s[1] += w;
        s[2] += 1.0;
    }
    for (uint32_t id = 0; id < n_stacks; id++) {
        double *s = sums + (size_t)id * 3;
        if (s[2] > 0) {
            PyObject *key = PyLong_FromUnsignedLong(id);
            PyObject *value = Py_BuildValue("(ddn)", s[0], s[1], (Py_ssize_t)s[2]);
            int bad = key == NULL || value == NULL || PyDict_SetItem(live_dict, key, value) < 0;
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (bad) {
                free(sums);
                goto done;
            }
        }
        if (stacks[id]->alloc_count > 0) {
            PyObject *key = PyLong_FromUnsignedLong(id);
            PyObject *value = pair(stacks[id]->alloc_bytes, stacks[id]->alloc_count);
            int bad = key == NULL || value == NULL || PyDict_SetItem(alloc_dict, key, value) < 0;
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (bad) {
                free(sums);
                goto done;
            }
        }
    }
    free(sums);
    result = Py_BuildValue("(OOnK)", live_dict, alloc_dict, (Py_ssize_t)n,
                           (unsigned long long)sampled_total);
done:
    free(copy);
    Py_XDECREF(live_dict);
    Py_XDECREF(alloc_dict);
    in_sample = 0;
    return result;
}

/* The frames of a stack, the oldest call first: ((function, file, line), ...), and
   whether frames beyond the limit were left out. */
static PyObject *sampler_frames(PyObject *module, PyObject *arg)
{
    unsigned long id = PyLong_AsUnsignedLong(arg);
    if (id == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (id >= n_stacks) {
        PyErr_SetString(PyExc_KeyError, "no such stack");
        return NULL;
    }
    stack_t *stack = stacks[id];
    PyObject *frames = PyTuple_New(stack->depth);
    if (frames == NULL)
        return NULL;
    for (uint32_t i = 0; i < stack->depth; i++) {
        frame_t *frame = &stack->frames[stack->depth - 1 - i];
        PyCodeObject *code = frame->code;
#if PY_VERSION_HEX >= 0x030B0000
        PyObject *name = code->co_qualname;
#else
        PyObject *name = code->co_name;
#endif
        PyObject *item = Py_BuildValue("(OOi)", name, code->co_filename, frame->line);
        if (item == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
        PyTuple_SET_ITEM(frames, i, item);
    }
    PyObject *result = Py_BuildValue("(NO)", frames, stack->truncated ? Py_True : Py_False);
    return result;
}

static PyObject *sampler_overhead(PyObject *module, PyObject *unused)
{
    size_t bytes = stack_bytes + (size_t)cap_stacks * sizeof(stack_t *) +
                   (size_t)stack_slot_cap * sizeof(uint32_t);
    pthread_mutex_lock(&live_lock);
    bytes += live_cap * sizeof(live_t);
    size_t count = live_count;
    pthread_mutex_unlock(&live_lock);
    if (installed)
        bytes += sizeof(filter);
    return Py_BuildValue("{s:n,s:n,s:I}", "bytes", (Py_ssize_t)bytes, "live_samples",
                         (Py_ssize_t)count, "stacks", n_stacks);
}

static PyMethodDef methods[] = {
    {"start", (PyCFunction)(void (*)(void))sampler_start, METH_VARARGS | METH_KEYWORDS,
     "start(interval=524288, frames=128, seed=0, raw=True): install the hooks."},
    {"stop", sampler_stop, METH_NOARGS,
     "Restore the allocators the hooks replaced; RuntimeError if another hook came later."},
    {"pause", sampler_pause, METH_NOARGS, "Stop sampling, leaving pass-through hooks."},
    {"is_running", sampler_is_running, METH_NOARGS, "Whether the sampler samples."},
    {"snapshot", sampler_snapshot, METH_NOARGS,
     "(live, allocated, live samples, samples taken), keyed by stack id."},
    {"frames", sampler_frames, METH_O, "A stack's frames, the oldest call first."},
    {"overhead", sampler_overhead, METH_NOARGS, "The sampler's own memory, in bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "memlens.agent._heapsampler",
    "memlens's sampling heap profiler: PEP 445 hooks that sample allocations by bytes.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__heapsampler(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError,
                    "memlens's heap sampler does not support free-threaded Python builds");
    return NULL;
#else
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddIntConstant(module, "MAX_FRAMES", MAX_FRAMES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
#endif
}
