/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/time-util.h"

/* The policy an operator writes (policies/default.ini documents every key). Parsing fills every
 * field: a key that is not in the file keeps the default from the schema table. */

typedef enum Enforcement {
        ENFORCEMENT_AUTO,
        ENFORCEMENT_CGROUP,
        ENFORCEMENT_WATCHDOG,
        _ENFORCEMENT_MAX,
} Enforcement;

/* Which of the stages that could start now is admitted first. */
typedef enum AdmitOrder {
        ADMIT_ORDER_LARGEST_FIRST, /* largest estimate first, smaller ones fill the gaps */
        ADMIT_ORDER_FIFO,          /* oldest episode first */
        _ADMIT_ORDER_MAX,
} AdmitOrder;

typedef enum PsiKind {
        PSI_SOME,
        PSI_FULL,
        _PSI_KIND_MAX,
} PsiKind;

typedef struct PsiTrigger {
        PsiKind kind;
        usec_t stall_usec;
        usec_t window_usec;
} PsiTrigger;

typedef enum JobClass {
        JOB_CLASS_DOWNLOAD,
        JOB_CLASS_TRANSCRIBE,
        JOB_CLASS_API,
        _JOB_CLASS_MAX,
} JobClass;

typedef enum Backend {
        BACKEND_COMMAND,
        BACKEND_GEMINI,
        BACKEND_OPENAI,
        _BACKEND_MAX,
} Backend;

typedef enum CommandOutput {
        COMMAND_OUTPUT_STDOUT,
        COMMAND_OUTPUT_FILE,
        _COMMAND_OUTPUT_MAX,
} CommandOutput;

typedef enum SeccompMode {
        SECCOMP_MODE_DEFAULT,
        SECCOMP_MODE_OFF,
        _SECCOMP_MODE_MAX,
} SeccompMode;

#define PROTOCOL_HTTP  (1U << 0)
#define PROTOCOL_HTTPS (1U << 1)

typedef struct ClassPolicy {
        unsigned max_concurrent;
        uint64_t estimate_bytes;
        usec_t timeout_usec;
} ClassPolicy;

typedef struct Policy {
        char *path; /* the file it came from, for messages */

        struct {
                Enforcement enforcement;
                uint64_t budget_bytes; /* 0 = auto: the service's memory.max minus reserve */
                uint64_t reserve_bytes;
                uint64_t headroom_bytes;
                uint64_t job_min_bytes;
                uint64_t job_max_bytes;
                double margin;
                double escalation;
                bool swap;
                AdmitOrder order;
        } memory;

        struct {
                PsiTrigger trigger;
                unsigned some_avg10_max_permyriad;
                unsigned full_avg10_max_permyriad;
                usec_t cooldown_usec;
                usec_t sample_interval_usec;
                usec_t startup_delay_usec;
                bool slow_start;
        } pressure;

        ClassPolicy classes[_JOB_CLASS_MAX];

        struct {
                uint64_t max_file_size_bytes;
                unsigned protocols; /* PROTOCOL_* bits */
                unsigned max_redirects;
                usec_t connect_timeout_usec;
                uint64_t low_speed_limit_bytes; /* per second */
                usec_t low_speed_time_usec;
                char *user_agent;
                bool verify_tls;
        } fetch;

        struct {
                Backend backend;
                usec_t chunk_duration_usec;
                uint64_t max_chunk_size_bytes; /* 0 = the backend's own limit */
                char *language;                /* NULL = let the backend detect it */
        } transcribe;

        struct {
                char **argv;
                char **prepare; /* NULL = none */
                CommandOutput output;
        } command;

        struct {
                char *model;
                char *api_key_file;
                char *api_key_env;
                char *prompt_file;
                char *endpoint;
                usec_t poll_interval_usec;
                bool delete_after;
        } gemini;

        struct {
                char *endpoint;
                char *model;
                char *api_key_file;
                char *api_key_env;
                char *response_format;
                uint64_t max_upload_bytes;
        } openai;

        struct {
                unsigned max_attempts;
                usec_t backoff_min_usec;
                usec_t backoff_max_usec;
                unsigned max_interruptions;
                unsigned max_oom_at_job_max;
        } retry;

        struct {
                char *user;
                SeccompMode seccomp;
                unsigned pids_max;
                unsigned nofile;
                uint64_t log_max_bytes;
        } sandbox;

        struct {
                char *state_dir;
                char *spool_dir;  /* default: <state_dir>/spool */
                char *output_dir; /* default: <state_dir>/out */
                char *socket;
        } paths;

        struct {
                char *admin_group;  /* NULL = root only */
                char *metrics_file; /* NULL = none */
                usec_t drain_grace_usec;
                usec_t watchdog_interval_usec;
        } daemon;
} Policy;

/* Messages produced while loading: each is one line, "FILE:LINE: text" or "FILE: text". */
typedef struct PolicyDiag {
        char **errors;
        size_t n_errors;
        char **warnings;
        size_t n_warnings;
} PolicyDiag;

/* A policy with every default filled in. Returns 0 or -ENOMEM. */
int policy_init_defaults(Policy *p);
void policy_done(Policy *p);

/* Loads path (or stdin for "-") over the defaults and validates it, collecting every error rather
 * than stopping at the first. Returns 0 when the policy is usable, -EINVAL when diag has errors,
 * -ENOENT/-EACCES/… when the file cannot be read (also described in diag), -ENOMEM. */
int policy_load(const char *path, Policy *ret, PolicyDiag *diag);

/* The same for a policy held in memory; name is used in messages. */
int policy_load_buffer(const char *name, const char *data, size_t len, Policy *ret, PolicyDiag *diag);

void policy_diag_done(PolicyDiag *d);

/* Writes every key with its effective value as a valid policy file, so that loading the output
 * gives back the same policy. Returns 0 or -errno. */
int policy_print(const Policy *p, FILE *f);

const char *job_class_to_string(JobClass c);
const char *backend_to_string(Backend b);
const char *enforcement_to_string(Enforcement e);
