/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "runner/metrics.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

/* The metrics file: the exact text for a known struct, and every line checked against the
 * Prometheus text exposition grammar (format 0.0.4) by a checker that is itself tested. */

static const char expected[] =
        "# HELP memgov_info The running memgov: its version and enforcement mode.\n"
        "# TYPE memgov_info gauge\n"
        "memgov_info{version=\"0.1.0\",mode=\"cgroup\"} 1\n"
        "# HELP memgov_start_time_seconds When the daemon started, in seconds since the epoch.\n"
        "# TYPE memgov_start_time_seconds gauge\n"
        "memgov_start_time_seconds 1714564800\n"
        "# HELP memgov_budget_bytes Memory budget for all stages together.\n"
        "# TYPE memgov_budget_bytes gauge\n"
        "memgov_budget_bytes 1610612736\n"
        "# HELP memgov_hard_usage_bytes Memory in use by the stages, without reclaimable file cache.\n"
        "# TYPE memgov_hard_usage_bytes gauge\n"
        "memgov_hard_usage_bytes 838860800\n"
        "# HELP memgov_psi_some_avg10 Memory pressure: percent of time some task stalled, 10s average.\n"
        "# TYPE memgov_psi_some_avg10 gauge\n"
        "memgov_psi_some_avg10 0.12\n"
        "# HELP memgov_psi_full_avg10 Memory pressure: percent of time all tasks stalled, 10s average.\n"
        "# TYPE memgov_psi_full_avg10 gauge\n"
        "memgov_psi_full_avg10 0\n"
        "# HELP memgov_window Stages the concurrency window allows at once.\n"
        "# TYPE memgov_window gauge\n"
        "memgov_window 3\n"
        "# HELP memgov_admission_open 1 when a stage of the class would be admitted now.\n"
        "# TYPE memgov_admission_open gauge\n"
        "memgov_admission_open{class=\"download\"} 1\n"
        "memgov_admission_open{class=\"transcribe\"} 0\n"
        "memgov_admission_open{class=\"api\"} 1\n"
        "# HELP memgov_running Stages running, per class.\n"
        "# TYPE memgov_running gauge\n"
        "memgov_running{class=\"download\"} 1\n"
        "memgov_running{class=\"transcribe\"} 2\n"
        "memgov_running{class=\"api\"} 0\n"
        "# HELP memgov_episodes Episodes in the ledger, per state.\n"
        "# TYPE memgov_episodes gauge\n"
        "memgov_episodes{state=\"queued\"} 5\n"
        "memgov_episodes{state=\"fetching\"} 0\n"
        "memgov_episodes{state=\"fetched\"} 0\n"
        "memgov_episodes{state=\"transcribing\"} 0\n"
        "memgov_episodes{state=\"done\"} 20\n"
        "memgov_episodes{state=\"retry_wait\"} 0\n"
        "memgov_episodes{state=\"held\"} 1\n"
        "memgov_episodes{state=\"cancelled\"} 0\n"
        "memgov_episodes{state=\"failed\"} 0\n"
        "# HELP memgov_daemon_rss_bytes Resident memory of the daemon process itself.\n"
        "# TYPE memgov_daemon_rss_bytes gauge\n"
        "memgov_daemon_rss_bytes 6291456\n"
        "# HELP memgov_stages_started_total Stages started, per class.\n"
        "# TYPE memgov_stages_started_total counter\n"
        "memgov_stages_started_total{class=\"download\"} 30\n"
        "memgov_stages_started_total{class=\"transcribe\"} 25\n"
        "memgov_stages_started_total{class=\"api\"} 0\n"
        "# HELP memgov_stage_results_total Stage runs that ended, per result.\n"
        "# TYPE memgov_stage_results_total counter\n"
        "memgov_stage_results_total{result=\"ok\"} 50\n"
        "memgov_stage_results_total{result=\"exit\"} 0\n"
        "memgov_stage_results_total{result=\"signal\"} 0\n"
        "memgov_stage_results_total{result=\"oom\"} 2\n"
        "memgov_stage_results_total{result=\"timeout\"} 1\n"
        "memgov_stage_results_total{result=\"cancelled\"} 0\n"
        "memgov_stage_results_total{result=\"watchdog\"} 0\n"
        "memgov_stage_results_total{result=\"interrupted\"} 0\n"
        "# HELP memgov_oom_kills_total Stages killed by the kernel's OOM killer.\n"
        "# TYPE memgov_oom_kills_total counter\n"
        "memgov_oom_kills_total 2\n"
        "# HELP memgov_control_requests_total Requests answered on the control socket.\n"
        "# TYPE memgov_control_requests_total counter\n"
        "memgov_control_requests_total 17\n"
        "# HELP memgov_control_refused_total Control socket connections refused.\n"
        "# TYPE memgov_control_refused_total counter\n"
        "memgov_control_refused_total 1\n";

static Metrics sample(void)
{
        return (Metrics){
                .version = "0.1.0",
                .mode = "cgroup",
                .start_time_usec = 1714564800ULL * USEC_PER_SEC,
                .budget_bytes = 1536ULL << 20,
                .hard_usage_bytes = 800ULL << 20,
                .psi_some_avg10 = 0.12,
                .psi_full_avg10 = 0,
                .window = 3,
                .admission_open = { true, false, true },
                .running = { 1, 2, 0 },
                .episodes = { [EPISODE_QUEUED] = 5, [EPISODE_DONE] = 20, [EPISODE_HELD] = 1 },
                .daemon_rss_bytes = 6 << 20,
                .stages_started_total = { 30, 25, 0 },
                .stage_results_total = { [RUN_RESULT_OK] = 50,
                        [RUN_RESULT_OOM] = 2,
                        [RUN_RESULT_TIMEOUT] = 1 },
                .oom_kills_total = 2,
                .control_requests_total = 17,
                .control_refused_total = 1,
        };
}

#define NAME        "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_VALUE "\"([^\"\\\\\n]|\\\\\\\\|\\\\\"|\\\\n)*\""
#define LABEL       "[a-zA-Z_][a-zA-Z0-9_]*=" LABEL_VALUE
#define VALUE       "(NaN|[+-]Inf|[+-]?[0-9]+(\\.[0-9]*)?([eE][+-]?[0-9]+)?|[+-]?\\.[0-9]+([eE][+-]?[0-9]+)?)"

/* Returns 0 when text is a valid exposition, else -1 with the reason and line in why. */
static int check_exposition(const char *text, char *why, size_t size)
{
        regex_t help, type, sample_re;
        char typed[64][128];
        size_t n_typed = 0, lineno = 0;
        char current[128] = "";
        int r = 0;

        if (regcomp(&help, "^# HELP (" NAME ") ([^\\\\\n]|\\\\\\\\|\\\\n)*$", REG_EXTENDED) != 0 ||
                regcomp(&type, "^# TYPE (" NAME ") (counter|gauge|histogram|summary|untyped)$",
                        REG_EXTENDED) != 0 ||
                regcomp(&sample_re, "^(" NAME ")(\\{(" LABEL "(," LABEL ")*,?)?\\})? " VALUE "( -?[0-9]+)?$",
                        REG_EXTENDED) != 0) {
                snprintf(why, size, "regcomp failed");
                return -1;
        }
        if (!*text || text[strlen(text) - 1] != '\n') {
                snprintf(why, size, "does not end with a newline");
                r = -1;
        }
        for (const char *p = text; r == 0 && *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                char line[1024], name[128];
                regmatch_t m[2];

                lineno++;
                if (len >= sizeof(line)) {
                        snprintf(why, size, "line %zu too long", lineno);
                        r = -1;
                        break;
                }
                memcpy(line, p, len);
                line[len] = 0;
                p += len + (nl ? 1 : 0);
                if (regexec(&type, line, 2, m, 0) == 0) {
                        snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                                line + m[1].rm_so);
                        for (size_t i = 0; i < n_typed; i++)
                                if (streq(typed[i], name)) {
                                        snprintf(why, size, "line %zu: second TYPE for %s", lineno, name);
                                        r = -1;
                                }
                        if (n_typed < ELEMENTSOF(typed))
                                snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
                        snprintf(current, sizeof(current), "%s", name);
                } else if (regexec(&help, line, 2, m, 0) == 0) {
                        continue;
                } else if (regexec(&sample_re, line, 2, m, 0) == 0) {
                        snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                                line + m[1].rm_so);
                        /* Samples follow their own family's TYPE, and the prefix is ours. */
                        if (!streq(name, current) || strncmp(name, "memgov_", 7) != 0) {
                                snprintf(why, size, "line %zu: sample '%.100s' outside its family", lineno,
                                        line);
                                r = -1;
                        }
                } else {
                        snprintf(why, size, "line %zu does not parse: '%.100s'", lineno, line);
                        r = -1;
                }
        }
        regfree(&help);
        regfree(&type);
        regfree(&sample_re);
        return r;
}

TEST(exact_text)
{
        _cleanup_free_ char *text = NULL;
        Metrics m = sample();

        ASSERT_INT(metrics_format(&m, &text), ==, 0);
        ASSERT_STR(text, expected);
        return 0;
}

TEST(grammar)
{
        _cleanup_free_ char *text = NULL;
        Metrics m = sample();
        char why[256] = "";

        ASSERT_INT(metrics_format(&m, &text), ==, 0);
        if (check_exposition(text, why, sizeof(why)) < 0)
                printf("# %s\n", why);
        ASSERT_INT(check_exposition(text, why, sizeof(why)), ==, 0);

        /* The checker itself rejects what it should. */
        ASSERT_INT(check_exposition("# TYPE memgov_a gauge\nmemgov_a 1\n", why, sizeof(why)), ==, 0);
        ASSERT_INT(check_exposition("# TYPE memgov_a gauge\nmemgov_a{x=\"y} 1\n", why, sizeof(why)), <, 0);
        ASSERT_INT(check_exposition("# TYPE memgov_a gauge\nmemgov_a 1,5\n", why, sizeof(why)), <, 0);
        ASSERT_INT(check_exposition("# TYPE memgov_a gauge\nmemgov_b 1\n", why, sizeof(why)), <, 0);
        ASSERT_INT(check_exposition("# TYPE memgov_a gauge\nmemgov_a 1", why, sizeof(why)), <, 0);
        ASSERT_INT(
                check_exposition("# TYPE memgov_a gauge\n# TYPE memgov_a gauge\n", why, sizeof(why)), <, 0);
        ASSERT_INT(
                check_exposition("# TYPE memgov_a gauge\nmemgov_a{x=\"a\nb\"} 1\n", why, sizeof(why)), <, 0);
        ASSERT_INT(check_exposition(
                           "# TYPE memgov_a gauge\nmemgov_a{x=\"a\\\\\\\"b\"} NaN\n", why, sizeof(why)),
                ==, 0);
        return 0;
}

TEST(escaping_and_special_values)
{
        _cleanup_free_ char *text = NULL;
        Metrics m = { .version = "1.0\"beta\\2\nx", .psi_some_avg10 = NAN, .psi_full_avg10 = INFINITY };
        char why[256] = "";

        ASSERT_INT(metrics_format(&m, &text), ==, 0);
        ASSERT_CONTAINS(text, "memgov_info{version=\"1.0\\\"beta\\\\2\\nx\"} 1\n");
        ASSERT_CONTAINS(text, "memgov_psi_some_avg10 NaN\n");
        ASSERT_CONTAINS(text, "memgov_psi_full_avg10 +Inf\n");
        /* Without a start time the family is left out rather than claiming the epoch. */
        ASSERT_TRUE(!strstr(text, "start_time"));
        if (check_exposition(text, why, sizeof(why)) < 0)
                printf("# %s\n", why);
        ASSERT_INT(check_exposition(text, why, sizeof(why)), ==, 0);
        free(text);
        text = NULL;
        m = (Metrics){};
        ASSERT_INT(metrics_format(&m, &text), ==, 0);
        ASSERT_CONTAINS(text, "\nmemgov_info 1\n");
        ASSERT_INT(check_exposition(text, why, sizeof(why)), ==, 0);
        return 0;
}

TEST(write_file)
{
        _cleanup_free_ char *text = NULL;
        Metrics m = sample();
        char buf[8192];
        struct stat st;
        FakeTree t;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "memgov.prom", "old"), ==, 0);
        ASSERT_INT(metrics_write(t.fd, "memgov.prom", &m), ==, 0);
        ASSERT_INT(fake_tree_read(&t, "memgov.prom", buf, sizeof(buf)), ==, (int)strlen(expected));
        ASSERT_STR(buf, expected);
        ASSERT_INT(fstatat(t.fd, "memgov.prom", &st, 0), ==, 0);
        ASSERT_INT(st.st_mode & 0777, ==, 0644);
        ASSERT_INT(metrics_write(t.fd, "sub/x.prom", &m), ==, -EINVAL);
        fake_tree_free(&t);
        return 0;
}

TEST(self_rss)
{
        _cleanup_close_ int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t rss = 0;
        FakeTree t;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "self/status",
                           "Name:\tmemgov\nVmPeak:\t  9000 kB\nVmRSS:\t    6144 kB\nThreads:\t1\n"),
                ==, 0);
        ASSERT_INT(metrics_read_self_rss(t.fd, &rss), ==, 0);
        ASSERT_U64(rss, 6144 * 1024);
        ASSERT_INT(fake_tree_write(&t, "self/status", "Name:\tmemgov\nVmRSS:\t    61x44 kB\n"), ==, 0);
        ASSERT_INT(metrics_read_self_rss(t.fd, &rss), ==, -EBADMSG);
        ASSERT_INT(fake_tree_write(&t, "self/status", "Name:\tkthread\n"), ==, 0);
        ASSERT_INT(metrics_read_self_rss(t.fd, &rss), ==, -EBADMSG);
        fake_tree_free(&t);
        /* And the real one: this test is resident, so more than a page. */
        ASSERT_INT(proc, >=, 0);
        ASSERT_INT(metrics_read_self_rss(proc, &rss), ==, 0);
        ASSERT_TRUE(rss > 4096);
        return 0;
}

TAP_MAIN(T(exact_text), T(grammar), T(escaping_and_special_values), T(write_file), T(self_rss))
