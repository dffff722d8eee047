/* The compiled step's threads: one pool that runs both numpy's parallel matrix products and the
 * step's own parallel loops (the mini-batch gather, the Adam step), included once by _fused.c.
 *
 * Why: numpy's OpenBLAS keeps its worker threads spinning between products, so a thread of our own
 * would fight them for the cores. OpenBLAS lets a program run its parallel jobs on the program's
 * threads instead (openblas_set_threads_callback_function); pool_install hands it this pool, which
 * then serves every threaded product in the process, and the step's loops use the same workers.
 * The jobs OpenBLAS hands over are those its own threads would run, split the same way, so every
 * product gives the same bits as before.
 *
 * A parallel region runs task(context, part, parts) for part 0 .. parts - 1: part 0 on the calling
 * thread, part w + 1 on worker w. Workers spin on a published word (region count and parts) for
 * SPIN_SECONDS after their last part, then sleep on a condition variable. Regions run one at a
 * time (the dispatch mutex), so numpy calls from several threads take turns. After fork() the child
 * has no workers: the atfork handlers reset the pool, which starts new workers on first use. */

#if defined(__unix__) || defined(__APPLE__)
#define MLPKIT_POOL 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__linux__)
#include <sys/prctl.h>
#define NAME_THIS_THREAD(name) prctl(PR_SET_NAME, (name)) /* as top and /proc show it */
#else
#define NAME_THIS_THREAD(name) ((void)(name))
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

enum { POOL_MAX_PARTS = 64, PARTS_BITS = 8 }; /* the published word: region count << 8 | parts */
static const double SPIN_SECONDS = 0.01;      /* a worker's spin after its last part, then it sleeps */

typedef void (*pool_task)(void *context, int part, int parts);
typedef int (*thread_count_function)(void); /* openblas_get_num_threads */

static struct {
    pthread_mutex_t dispatch; /* held for a whole region: one at a time */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    int workers;                /* started, under dispatch */
    atomic_ulong word;          /* the current region: count << PARTS_BITS | parts */
    atomic_int pending;         /* parts of the region still running on workers */
    atomic_int sleepers;        /* workers asleep on wake */
    pool_task task;             /* the region's task and context: set before word, read after it */
    void *context;
    thread_count_function thread_count; /* NULL until pool_install */
    unsigned long start_word[POOL_MAX_PARTS]; /* the word when each worker was started */
} pool = {.dispatch = PTHREAD_MUTEX_INITIALIZER, .sleep_lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static double pool_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Waits for a word other than seen: spins for SPIN_SECONDS, then sleeps until the dispatcher wakes it. */
static unsigned long pool_wait(unsigned long seen) {
    const double since = pool_seconds();
    for (unsigned spins = 1;; spins++) {
        const unsigned long word = atomic_load_explicit(&pool.word, memory_order_acquire);
        if (word != seen) {
            return word;
        }
        CPU_RELAX();
        if (spins % 1024 == 0 && pool_seconds() - since > SPIN_SECONDS) {
            break;
        }
    }
    pthread_mutex_lock(&pool.sleep_lock);
    atomic_fetch_add(&pool.sleepers, 1); /* seq_cst: the dispatcher sees it, or we see its word */
    unsigned long word;
    while ((word = atomic_load(&pool.word)) == seen) {
        pthread_cond_wait(&pool.wake, &pool.sleep_lock);
    }
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.sleep_lock);
    return word;
}

static void *pool_worker(void *argument) {
    const int part = (int)(intptr_t)argument; /* worker w runs part w + 1 */
    unsigned long seen = pool.start_word[part];
    NAME_THIS_THREAD("mlpkit-pool");
    for (;;) {
        seen = pool_wait(seen);
        if (part < (int)(seen & ((1u << PARTS_BITS) - 1))) {
            pool.task(pool.context, part, (int)(seen & ((1u << PARTS_BITS) - 1)));
            atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
        }
    }
    return NULL;
}

/* Starts workers until parts - 1 run (under dispatch); returns how many parts can run at once. A new
 * worker starts from the word before this region's, so it takes this region however late it starts. */
static int pool_grow(int parts) {
    while (pool.workers < parts - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pool.start_word[pool.workers + 1] = atomic_load(&pool.word);
        const int failed = pthread_create(&thread, &attributes, pool_worker, (void *)(intptr_t)(pool.workers + 1));
        pthread_attr_destroy(&attributes);
        if (failed) {
            break;
        }
        pool.workers++;
    }
    return pool.workers + 1 < parts ? pool.workers + 1 : parts;
}

/* Runs task over `parts` parts (at most POOL_MAX_PARTS), part 0 here; returns when all are done.
 * Returns 0 if the parts could not all be given threads (nothing ran), 1 otherwise. */
static int pool_run(pool_task task, void *context, int parts) {
    if (parts <= 1) {
        task(context, 0, 1);
        return 1;
    }
    pthread_mutex_lock(&pool.dispatch);
    if (pool_grow(parts) < parts) {
        pthread_mutex_unlock(&pool.dispatch);
        return 0;
    }
    pool.task = task;
    pool.context = context;
    atomic_store_explicit(&pool.pending, parts - 1, memory_order_relaxed);
    const unsigned long count = (atomic_load(&pool.word) >> PARTS_BITS) + 1;
    atomic_store(&pool.word, count << PARTS_BITS | (unsigned long)parts); /* seq_cst, see pool_wait */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    task(context, 0, parts);
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
        CPU_RELAX();
    }
    pthread_mutex_unlock(&pool.dispatch);
    return 1;
}

/* Runs the independent parts of task on the pool, or one after the other here if it has no threads. */
static void pool_for(pool_task task, void *context, int parts) {
    if (!pool_run(task, context, parts)) {
        for (int part = 0; part < parts; part++) {
            task(context, part, parts);
        }
    }
}

/* OpenBLAS's parallel jobs (cblas.h: openblas_threads_callback): job i on part i, all at once, since
 * the jobs of one product wait on each other. */
typedef void (*blas_job_function)(int thread, void *job, int data);
struct blas_jobs {
    blas_job_function run;
    char *jobs;
    size_t job_size;
    int data;
};

static void pool_blas_task(void *context, int part, int parts) {
    (void)parts;
    const struct blas_jobs *jobs = context;
    jobs->run(part, jobs->jobs + (size_t)part * jobs->job_size, jobs->data);
}

static void pool_blas_callback(int sync, blas_job_function run, int count, size_t job_size, void *jobs, int data) {
    (void)sync; /* OpenBLAS always waits (sync = 1) */
    struct blas_jobs region = {run, jobs, job_size, data};
    if (count > POOL_MAX_PARTS || !pool_run(pool_blas_task, &region, count)) {
        fprintf(stderr, "mlpkit: cannot start %d threads for numpy's matrix product\n", count);
        abort(); /* as OpenBLAS itself does when it cannot start its threads */
    }
}

static void pool_before_fork(void) { pthread_mutex_lock(&pool.dispatch); }
static void pool_after_fork_parent(void) { pthread_mutex_unlock(&pool.dispatch); }
static void pool_after_fork_child(void) { /* the workers did not come along */
    pthread_mutex_init(&pool.dispatch, NULL);
    pthread_mutex_init(&pool.sleep_lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.workers = 0;
    atomic_store(&pool.pending, 0);
    atomic_store(&pool.sleepers, 0);
}

typedef void (*set_callback_function)(void (*)(int, blas_job_function, int, size_t, void *, int));

/* Hands numpy's OpenBLAS this pool (set_callback: openblas_set_threads_callback_function) and keeps
 * thread_count (openblas_get_num_threads) to size the step's own regions. Once per process; returns 1. */
int pool_install(void *set_callback, void *thread_count) {
    pthread_mutex_lock(&pool.dispatch);
    if (pool.thread_count == NULL) {
        pthread_atfork(pool_before_fork, pool_after_fork_parent, pool_after_fork_child);
        ((set_callback_function)set_callback)(pool_blas_callback);
        pool.thread_count = (thread_count_function)thread_count;
    }
    pthread_mutex_unlock(&pool.dispatch);
    return 1;
}

/* How many parts the step's own regions take: numpy's BLAS thread count once the pool serves it
 * (threadpoolctl's limits apply), else 1. */
static int pool_parts(void) {
    if (pool.thread_count == NULL) {
        return 1;
    }
    const int threads = pool.thread_count();
    return threads < 1 ? 1 : (threads > POOL_MAX_PARTS ? POOL_MAX_PARTS : threads);
}

#else /* no POSIX threads: the step's regions run on the calling thread, OpenBLAS keeps its own */
typedef void (*pool_task)(void *context, int part, int parts);
enum { POOL_MAX_PARTS = 1 };
static void pool_for(pool_task task, void *context, int parts) {
    for (int part = 0; part < parts; part++) {
        task(context, part, parts);
    }
}
int pool_install(void *set_callback, void *thread_count) {
    (void)set_callback;
    (void)thread_count;
    return 0;
}
static int pool_parts(void) { return 1; }
#endif
