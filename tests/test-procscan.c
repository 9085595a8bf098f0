/* SPDX-License-Identifier: MIT */
#include <fcntl.h>

#include "common/macro.h"
#include "runner/procscan.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(parse_stat)
{
        ProcEntry e;
        uint64_t rss;

        ASSERT_INT(proc_parse_stat("4242 (whisper-cli) S 4000 4242 4242 0 -1 4194560 100 0", &e), ==, 0);
        ASSERT_INT(e.pid, ==, 4242);
        ASSERT_INT(e.ppid, ==, 4000);
        ASSERT_INT(e.pgrp, ==, 4242);
        ASSERT_INT(e.sid, ==, 4242);
        ASSERT_INT(e.state, ==, 'S');
        /* A command name with spaces and parentheses must not shift the fields. */
        ASSERT_INT(proc_parse_stat("77 (a) b (c)) Z 1 70 70 0", &e), ==, 0);
        ASSERT_INT(e.state, ==, 'Z');
        ASSERT_INT(e.ppid, ==, 1);
        ASSERT_INT(proc_parse_stat("77 no parens S 1 2 3", &e), ==, -EINVAL);
        ASSERT_INT(proc_parse_statm("5000 1234 300 10 0 800 0\n", 4096, &rss), ==, 0);
        ASSERT_U64(rss, 1234ULL * 4096);
        ASSERT_INT(proc_parse_statm("junk", 4096, &rss), ==, -EINVAL);
        return 0;
}

static int add(FakeTree *t, int pid, int ppid, int pgrp, int sid, char state, unsigned pages)
{
        char path[64], text[128];

        snprintf(path, sizeof(path), "%d/stat", pid);
        snprintf(text, sizeof(text), "%d (p%d) %c %d %d %d 0 -1 0", pid, pid, state, ppid, pgrp, sid);
        if (fake_tree_write(t, path, text) < 0)
                return -1;
        snprintf(path, sizeof(path), "%d/statm", pid);
        snprintf(text, sizeof(text), "%u %u 0 0 0 0 0\n", pages * 2, pages);
        return fake_tree_write(t, path, text);
}

TEST(stage_tree)
{
        FakeTree t;
        ProcSnapshot snap = {};
        ProcSet known = {};
        size_t n;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        /* memgov 100; stage 200 (its own session); 201 child; 202 grandchild listed before its
         * parent 203 in readdir order does not matter; 300 another stage; 400 unrelated. */
        ASSERT_INT(add(&t, 100, 1, 100, 100, 'S', 10), ==, 0);
        ASSERT_INT(add(&t, 200, 100, 200, 200, 'S', 100), ==, 0);
        ASSERT_INT(add(&t, 201, 200, 200, 200, 'R', 1000), ==, 0);
        ASSERT_INT(add(&t, 203, 201, 203, 203, 'S', 5), ==, 0); /* setsid'd, still a descendant */
        ASSERT_INT(add(&t, 202, 203, 203, 203, 'S', 7), ==, 0);
        ASSERT_INT(add(&t, 300, 100, 300, 300, 'S', 50), ==, 0);
        ASSERT_INT(add(&t, 400, 1, 400, 400, 'S', 999), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "self", "not a pid dir"), ==, 0);
        ASSERT_INT(proc_snapshot(t.fd, 4096, &snap), ==, 0);
        ASSERT_INT(snap.n, ==, 7);
        ASSERT_U64(proc_stage_rss(&snap, 200, &known, &n), (100 + 1000 + 5 + 7) * 4096ULL);
        ASSERT_INT(n, ==, 4);
        ASSERT_TRUE(proc_set_contains(&known, 202) && proc_set_contains(&known, 203) &&
                !proc_set_contains(&known, 300));
        /* 203's parent exits: it is re-parented to memgov (the subreaper), out of the stage's
         * session and tree, but it was seen in the stage and stays counted. */
        ASSERT_INT(unlinkat(t.fd, "201/stat", 0), ==, 0);
        ASSERT_INT(unlinkat(t.fd, "201/statm", 0), ==, 0);
        ASSERT_INT(unlinkat(t.fd, "201", AT_REMOVEDIR), ==, 0);
        ASSERT_INT(add(&t, 203, 100, 203, 203, 'S', 5), ==, 0);
        ASSERT_INT(proc_snapshot(t.fd, 4096, &snap), ==, 0);
        ASSERT_U64(proc_stage_rss(&snap, 200, &known, &n), (100 + 5 + 7) * 4096ULL);
        ASSERT_INT(n, ==, 3);
        /* The other stage is counted on its own. */
        {
                ProcSet other = {};
                ASSERT_U64(proc_stage_rss(&snap, 300, &other, &n), 50 * 4096ULL);
                proc_set_done(&other);
        }
        proc_set_done(&known);
        proc_snapshot_done(&snap);
        fake_tree_free(&t);
        return 0;
}

TEST(real_proc)
{
        _cleanup_close_ int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ProcSnapshot snap = {};
        ProcSet known = {};
        size_t n;
        uint64_t rss;

        ASSERT_INT(proc_snapshot(proc, 4096, &snap), ==, 0);
        ASSERT_INT(snap.n, >, 1);
        rss = proc_stage_rss(&snap, getpid(), &known, &n);
        ASSERT_INT(n, >=, 1);
        ASSERT_U64(rss > 0, 1);
        ASSERT_TRUE(proc_set_contains(&known, getpid()));
        proc_set_done(&known);
        proc_snapshot_done(&snap);
        return 0;
}

TAP_MAIN(T(parse_stat), T(stage_tree), T(real_proc))
