/* SPDX-License-Identifier: MIT */
#include "governor/memstat.h"
#include "tests/tap.h"

TEST(values)
{
        static const struct {
                const char *text;
                int r;
                uint64_t v;
        } cases[] = {
                { "0\n", 0, 0 },
                { "536870912\n", 0, 536870912 },
                { "max\n", 0, MEM_MAX },
                { "123", 0, 123 },
                { "", -EINVAL, 0 },
                { "max \n", -EINVAL, 0 },
                { "12 34\n", -EINVAL, 0 },
                { "-1\n", -EINVAL, 0 },
                { "1\n\n", -EINVAL, 0 },
                { "99999999999999999999\n", -ERANGE, 0 },
                { "maximum\n", -EINVAL, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 7;
                ASSERT_INT(mem_parse_value(cases[i].text, &v), ==, cases[i].r);
                if (cases[i].r == 0)
                        ASSERT_U64(v, cases[i].v);
        }
        return 0;
}

TEST(stat)
{
        /* Trimmed from a 6.1 kernel; unknown keys must be skipped. */
        const char *text =
                "anon 1048576\nfile 8388608\nkernel 262144\nkernel_stack 16384\nsock 0\nshmem 4096\n"
                "file_mapped 0\nfile_dirty 1048576\nfile_writeback 524288\nswapcached 0\n"
                "inactive_anon 1048576\nactive_anon 0\ninactive_file 6291456\nactive_file 2097152\n"
                "slab_reclaimable 65536\npgfault 1234\nthp_collapse_alloc 0\n";
        MemStat st;

        ASSERT_INT(mem_parse_stat(text, &st), ==, 0);
        ASSERT_U64(st.anon, 1048576);
        ASSERT_U64(st.file, 8388608);
        ASSERT_U64(st.shmem, 4096);
        ASSERT_U64(st.file_dirty, 1048576);
        ASSERT_U64(st.file_writeback, 524288);
        ASSERT_U64(st.inactive_file, 6291456);
        ASSERT_U64(st.active_file, 2097152);
        ASSERT_U64(st.slab_reclaimable, 65536);
        ASSERT_INT(mem_parse_stat("anon\n", &st), ==, -EINVAL);
        ASSERT_INT(mem_parse_stat("anon 12x\n", &st), ==, -EINVAL);
        ASSERT_INT(mem_parse_stat(" 12\n", &st), ==, -EINVAL);
        ASSERT_INT(mem_parse_stat("", &st), ==, 0);
        return 0;
}

TEST(events)
{
        MemEvents ev;

        ASSERT_INT(mem_parse_events("low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\noom_group_kill 1\n", &ev), ==,
                0);
        ASSERT_U64(ev.high, 12);
        ASSERT_U64(ev.max, 3);
        ASSERT_U64(ev.oom, 2);
        ASSERT_U64(ev.oom_kill, 1);
        ASSERT_U64(ev.oom_group_kill, 1);
        /* 6.1 has no sock_throttled; newer kernels add it. */
        ASSERT_INT(
                mem_parse_events("low 0\nhigh 0\nmax 0\noom 0\noom_kill 7\nsock_throttled 3\n", &ev), ==, 0);
        ASSERT_U64(ev.oom_kill, 7);
        ASSERT_INT(mem_parse_events("oom_kill one\n", &ev), ==, -EINVAL);
        return 0;
}

TEST(psi)
{
        PsiStats st;

        ASSERT_INT(psi_parse("some avg10=1.23 avg60=0.50 avg300=0.00 total=123456\n"
                             "full avg10=100.00 avg60=0.05 avg300=0.00 total=99\n",
                           &st),
                ==, 0);
        ASSERT_INT(st.some.avg10, ==, 123);
        ASSERT_INT(st.some.avg60, ==, 50);
        ASSERT_U64(st.some.total_usec, 123456);
        ASSERT_TRUE(st.has_full);
        ASSERT_INT(st.full.avg10, ==, 10000);
        ASSERT_INT(st.full.avg60, ==, 5);
        /* System cpu before 5.13 has only "some". */
        ASSERT_INT(psi_parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &st), ==, 0);
        ASSERT_TRUE(!st.has_full);
        ASSERT_INT(psi_parse("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &st), ==, -EINVAL);
        ASSERT_INT(psi_parse("some avg10=0.00 avg60=0.00 total=0\n", &st), ==, -EINVAL);
        ASSERT_INT(psi_parse("some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n", &st), ==, -EINVAL);
        ASSERT_INT(psi_parse("some avg10=1. avg60=0.00 avg300=0.00 total=0\n", &st), ==, -EINVAL);
        ASSERT_INT(
                psi_parse(
                        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                        &st),
                ==, -EINVAL);
        ASSERT_INT(psi_parse("", &st), ==, -EINVAL);
        return 0;
}

TEST(cgroup_events)
{
        bool populated, frozen;

        ASSERT_INT(cg_parse_events("populated 1\nfrozen 0\n", &populated, &frozen), ==, 0);
        ASSERT_TRUE(populated && !frozen);
        ASSERT_INT(cg_parse_events("populated 0\nfrozen 1\n", &populated, &frozen), ==, 0);
        ASSERT_TRUE(!populated && frozen);
        ASSERT_INT(cg_parse_events("frozen 0\n", &populated, &frozen), ==, -EINVAL);
        ASSERT_INT(cg_parse_events("populated 2\n", &populated, &frozen), ==, -EINVAL);
        return 0;
}

TAP_MAIN(T(values), T(stat), T(events), T(psi), T(cgroup_events))
