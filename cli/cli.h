/* SPDX-License-Identifier: MIT */
#pragma once

/* Exit codes, documented in memgov(8) and --help. */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,        /* the work failed: invalid policy, episodes not done, daemon error */
        EXIT_USAGE = 2,       /* bad command line */
        EXIT_UNAVAILABLE = 3, /* a needed resource is missing: no daemon, no cgroup access, … */
};

typedef struct Verb {
        const char *name;
        const char *args;
        const char *summary;
        int (*run)(int argc, char *argv[]);
} Verb;

int verb_check(int argc, char *argv[]);
int verb_submit(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_show(int argc, char *argv[]);
int verb_retry(int argc, char *argv[]);
int verb_cancel(int argc, char *argv[]);
int verb_release(int argc, char *argv[]);
int verb_probe(int argc, char *argv[]);
int verb_setup(int argc, char *argv[]);
int verb_exec(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_daemon(int argc, char *argv[]);
int verb_fetch(int argc, char *argv[]);
int verb_transcribe(int argc, char *argv[]);

/* Loads the policy at path (NULL: the defaults), logging its errors and warnings. Returns 0
 * or a negative errno. */
struct Policy;
int cli_load_policy(const char *path, struct Policy *ret);

/* --spawn METHOD for run, daemon and exec. Returns 0, or -EINVAL after saying why. */
#include "runner/spawn.h"
int cli_parse_spawn(const char *verb, const char *s, SpawnMethod *ret);

/* This binary's path, for the stage processes. Returns 0 or a negative errno (logged). */
int cli_self_exe(char *buf, size_t size);

/* Blocks SIGINT and SIGTERM (and SIGHUP) and returns a signalfd for them, or -errno. */
#include <stdbool.h>
int cli_signalfd(bool with_hup);

/* Prints o as one JSON line on stdout and frees it (NULL: out of memory). Returns 0 or
 * -ENOMEM. */
typedef struct cJSON cJSON;
int cli_print_json_line(cJSON *o);

/* "Try 'memgov VERB --help'." after a usage error; returns EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
