/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/time-util.h"
#include "runner/result.h"
#include "runner/spawn.h"

/* Runs admitted stages and gives each exactly one result. In cgroup mode every stage attempt
 * gets a fresh cgroup under jobs/ with its limits written before the process exists; in watchdog
 * mode a stage is a session whose process tree's RSS is sampled every watchdog interval and
 * killed as a whole over its limit. Everything is driven by one epoll fd (pidfds, timerfds), so
 * the daemon's own loop just waits on supervisor_fd() too: no busy polling, no threads. */

typedef struct Supervisor Supervisor;
typedef struct Stage Stage;

typedef enum SupervisorMode {
        SUPERVISOR_CGROUP,
        SUPERVISOR_WATCHDOG,
} SupervisorMode;

/* Called once per stage, from supervisor_dispatch(), after the stage's cgroup is gone. The
 * Stage is freed when the callback returns. */
typedef void (*StageDoneFn)(Stage *st, const StageResult *result, void *userdata);

typedef struct SupervisorConfig {
        SupervisorMode mode;
        int jobs_fd; /* cgroup mode: the jobs/ cgroup; borrowed */
        int proc_fd; /* watchdog mode: /proc; borrowed */
        SpawnMethod spawn_method;
        const struct sock_fprog *seccomp; /* borrowed; NULL = none */
        bool drop_privileges;
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t n_groups;
        unsigned nofile;
        unsigned pids_max;
        bool swap;
        usec_t watchdog_interval_usec;
        StageDoneFn done;
        void *userdata;
} SupervisorConfig;

typedef struct StageSpec {
        const char *name; /* "<id>.<stage>.<attempt>": the cgroup name; validated by the caller */
        const char *path; /* executable; NULL = argv[0] */
        char *const *argv;
        char *const *envp;
        uint64_t limit_bytes; /* memory.max, or the RSS limit in watchdog mode */
        usec_t timeout_usec;  /* 0 = none */
        int stdout_fd;        /* -EBADF = /dev/null; borrowed for the spawn only */
        int stderr_fd;
        const char *working_directory;
        void *userdata; /* returned by stage_userdata() */
} StageSpec;

/* In watchdog mode this makes the calling process a child subreaper, so a stage's daemonising
 * children stay memgov's to find and kill. Returns 0 or -errno. */
int supervisor_new(const SupervisorConfig *cfg, Supervisor **ret);
Supervisor *supervisor_free(Supervisor *s);

/* The epoll fd to wait on (readable when supervisor_dispatch() has work). */
int supervisor_fd(const Supervisor *s);

/* Starts a stage. Returns 0 and the Stage, or -errno with a one-line reason in err (nothing is
 * left behind: a half-made cgroup is removed). */
int supervisor_start(Supervisor *s, const StageSpec *spec, Stage **ret, char *err, size_t errlen);

/* Kills a running stage; its result will be STAGE_CANCELLED. Returns 0 or -errno. */
int supervisor_cancel(Supervisor *s, Stage *st);

/* Handles whatever is ready, waiting at most timeout_ms (0 = do not wait, -1 = forever).
 * Calls the done callback for stages that ended. Returns the number of events handled or
 * -errno. */
int supervisor_dispatch(Supervisor *s, int timeout_ms);

size_t supervisor_running(const Supervisor *s);

/* Kills every running stage and waits until all have been reported. */
int supervisor_cancel_all(Supervisor *s, usec_t timeout);

const char *stage_name(const Stage *st);
pid_t stage_pid(const Stage *st);
void *stage_userdata(const Stage *st);
SpawnMethod stage_spawn_method(const Stage *st);
/* Memory in use now: memory.current of its cgroup, or the last RSS sample in watchdog mode. */
uint64_t stage_observed_bytes(Stage *st);
