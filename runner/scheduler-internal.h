/* SPDX-License-Identifier: MIT */
#pragma once

#include "governor/estimate.h"
#include "governor/psi.h"
#include "governor/sampler.h"
#include "runner/scheduler.h"

/* Runnable episodes considered per admission pass, oldest first. */
#define SCHEDULER_RUNNABLE_MAX 64

/* One running stage attempt. */
typedef struct SchedRun {
        struct SchedRun *next;
        Stage *stage;
        char id[129];
        EpisodeStage stage_kind;
        GovStageKind est_kind;
        JobClass cls;
        int64_t run_id;
        unsigned attempt;
        EpisodeState state_at_start; /* what the ledger says while it runs */
        uint64_t limit;
        uint64_t reservation;
        uint64_t input_bytes; /* audio size for transcribe; Content-Length is unknown for fetch */
        usec_t started;
        bool interrupted; /* killed by memgov's own shutdown: requeue without penalty */
        int out_fd;       /* the stage's stdout (its JSON result), in runs/ */
        char out_name[200];
        char log_name[200];
        char part_name[160];
        char work_name[200];
} SchedRun;

struct Scheduler {
        const Policy *policy;
        Ledger *ledger;
        SchedulerOptions opts;
        Runtime rt;
        bool rt_open;
        LedgerRecovery recovery;
        int epoll_fd;
        int timer_fd;
        int state_fd;
        int spool_fd;
        int out_fd;
        int work_fd;
        GovSampler sampler;
        PsiTriggerFd trigger;
        GovState gov;
        GovReadings readings;
        GovEstimates estimates;
        bool sampled;
        bool admitting;
        unsigned triggers;
        uint64_t peak_hard;
        SchedRun *runs;
        size_t n_runs;
        uint64_t stages_started;
        uint64_t started_class[_JOB_CLASS_MAX];
        uint64_t results[_STAGE_RESULT_MAX];
        uint64_t peak_stage_bytes[_EPISODE_STAGE_MAX];
        uint64_t peak_stage_limit[_EPISODE_STAGE_MAX];
        SchedulerRoomKept room_kept[_JOB_CLASS_MAX]; /* the last pass's head per class, for status */
        bool stage_ended; /* since the last dispatch: take a fresh sample before admitting */
        int fatal;        /* a ledger write failed: stop */
};

int scheduler_admit(Scheduler *s);
void scheduler_on_stage_done(Stage *st, const StageResult *result, void *userdata);
void sched_run_free(SchedRun *run);
