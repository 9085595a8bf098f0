/* SPDX-License-Identifier: MIT */
#include <fcntl.h>

#include "common/macro.h"
#include "governor/sampler.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(cgroup_readings)
{
        FakeTree t;
        GovSampler s;
        GovSample g;
        _cleanup_close_ int cg = -EBADF;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "jobs", "memory pids"), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.current", "104857600\n"), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.max", "1073741824\n"), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.stat",
                           "anon 41943040\nfile 62914560\nactive_file 20971520\n"
                           "inactive_file 41943040\nfile_dirty 10485760\n"),
                ==, 0);
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.pressure",
                           "some avg10=12.50 avg60=1.00 avg300=0.10 total=5\n"
                           "full avg10=3.00 avg60=0.00 avg300=0.00 total=1\n"),
                ==, 0);
        cg = openat(t.fd, "jobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_INT(gov_sampler_open(&s, cg, cg, -EBADF), ==, 0);
        ASSERT_TRUE(!s.pressure_is_system);
        ASSERT_INT(gov_sampler_read(&s, &g), ==, 0);
        ASSERT_TRUE(g.have_memory && g.have_psi);
        ASSERT_U64(g.current_bytes, 100ULL << 20);
        ASSERT_U64(g.max_bytes, 1ULL << 30);
        /* 100M current - (20M + 40M cache - 10M dirty) = 50M that cannot simply be dropped
         * (the rule is gov_hard_usage(), table-tested in test-tokens). */
        ASSERT_U64(g.hard_bytes, 50ULL << 20);
        ASSERT_INT(g.psi.some.avg10, ==, 1250);
        ASSERT_INT(g.psi.full.avg10, ==, 300);
        /* The kept-open fds see new values: the kernel regenerates the file per read. */
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.current", "209715200\n"), ==, 0);
        ASSERT_INT(gov_sampler_read(&s, &g), ==, 0);
        ASSERT_U64(g.current_bytes, 200ULL << 20);
        /* Garbage is an error, not a zero. */
        ASSERT_INT(fake_tree_write(&t, "jobs/memory.current", "lots\n"), ==, 0);
        ASSERT_INT(gov_sampler_read(&s, &g), ==, -EINVAL);
        gov_sampler_close(&s);
        fake_tree_free(&t);
        return 0;
}

TEST(system_pressure_fallback)
{
        FakeTree t;
        GovSampler s;
        GovSample g;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(
                fake_tree_write(&t, "pressure/memory", "some avg10=0.50 avg60=0.00 avg300=0.00 total=9\n"),
                ==, 0);
        /* No readable cgroup (watchdog mode on a hybrid host): only system PSI. */
        ASSERT_INT(gov_sampler_open(&s, -EBADF, -EBADF, t.fd), ==, 0);
        ASSERT_TRUE(s.pressure_is_system);
        ASSERT_INT(gov_sampler_read(&s, &g), ==, 0);
        ASSERT_TRUE(!g.have_memory && g.have_psi && !g.psi.has_full);
        ASSERT_INT(g.psi.some.avg10, ==, 50);
        gov_sampler_close(&s);
        fake_tree_free(&t);
        return 0;
}

TAP_MAIN(T(cgroup_readings), T(system_pressure_fallback))
