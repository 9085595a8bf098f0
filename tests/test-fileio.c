/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(read_virtual)
{
        FakeTree t;
        char buf[16];

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "memory.current", "123456\n"), ==, 0);
        ASSERT_INT(read_virtual_at(t.fd, "memory.current", buf, sizeof(buf)), ==, 7);
        ASSERT_STR(buf, "123456\n");
        /* A file that fills the buffer is reported, not silently cut. */
        ASSERT_INT(fake_tree_write(&t, "big", "0123456789abcdefXYZ"), ==, 0);
        ASSERT_INT(read_virtual_at(t.fd, "big", buf, sizeof(buf)), ==, -EFBIG);
        ASSERT_INT(read_virtual_at(t.fd, "missing", buf, sizeof(buf)), ==, -ENOENT);
        fake_tree_free(&t);
        return 0;
}

TEST(write_string)
{
        FakeTree t;
        char buf[64];

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "jobs", "memory pids"), ==, 0);
        ASSERT_INT(write_string_at(t.fd, "jobs/memory.max", "536870912"), ==, 0);
        ASSERT_INT(fake_tree_read(&t, "jobs/memory.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "536870912");
        /* Attribute files are never created: a missing one is an error. */
        ASSERT_INT(write_string_at(t.fd, "jobs/memory.nonexistent", "1"), ==, -ENOENT);
        fake_tree_free(&t);
        return 0;
}

static int count_entries(int dirfd)
{
        DIR *d = fdopendir(dup(dirfd));
        int n = 0;

        if (!d)
                return -1;
        rewinddir(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.' || (de->d_name[1] && de->d_name[1] != '.'))
                        n++;
        closedir(d);
        return n;
}

TEST(write_atomic)
{
        FakeTree t;
        char buf[64];
        struct stat st;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(write_atomic_at(t.fd, "out.txt", "first", 5, 0640), ==, 0);
        ASSERT_INT(write_atomic_at(t.fd, "out.txt", "second", 6, 0640), ==, 0);
        ASSERT_INT(fake_tree_read(&t, "out.txt", buf, sizeof(buf)), ==, 6);
        ASSERT_STR(buf, "second");
        ASSERT_INT(fstatat(t.fd, "out.txt", &st, 0), ==, 0);
        ASSERT_INT(st.st_mode & 0777, ==, 0640);
        /* No temporary file is left behind. */
        ASSERT_INT(count_entries(t.fd), ==, 1);
        /* A target that cannot be replaced leaves no temporary file either. */
        ASSERT_INT(mkdirat(t.fd, "adir", 0755), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "adir/x", "x"), ==, 0);
        ASSERT_INT(write_atomic_at(t.fd, "adir", "x", 1, 0644), <, 0);
        ASSERT_INT(count_entries(t.fd), ==, 2);
        ASSERT_INT(write_atomic_at(t.fd, "a/b", "x", 1, 0644), ==, -EINVAL);
        fake_tree_free(&t);
        return 0;
}

TEST(read_file)
{
        FakeTree t;
        _cleanup_free_ char *s = NULL;
        char big[10000];
        size_t n;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        ASSERT_INT(fake_tree_write(&t, "f", big), ==, 0);
        ASSERT_INT(read_file_at(t.fd, "f", 20000, &s, &n), ==, 0);
        ASSERT_INT(n, ==, sizeof(big) - 1);
        ASSERT_INT(read_file_at(t.fd, "f", 5000, &s, &n), ==, -EFBIG);
        ASSERT_INT(read_file_at(t.fd, ".", 5000, &s, &n), ==, -EISDIR);
        fake_tree_free(&t);
        return 0;
}

TEST(rm_tree_does_not_follow_symlinks)
{
        FakeTree t, outside;
        struct stat st;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_new(&outside), ==, 0);
        ASSERT_INT(fake_tree_write(&outside, "precious", "keep me"), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "ep.work/a/b/file", "x"), ==, 0);
        /* A stage user could plant links to anything: they are removed, not followed. */
        ASSERT_INT(symlinkat(outside.path, t.fd, "ep.work/a/link-to-dir"), ==, 0);
        ASSERT_INT(rm_tree_at(t.fd, "ep.work"), ==, 0);
        ASSERT_INT(fstatat(t.fd, "ep.work", &st, AT_SYMLINK_NOFOLLOW), ==, -1);
        ASSERT_INT(fstatat(outside.fd, "precious", &st, 0), ==, 0);
        ASSERT_INT(rm_tree_at(t.fd, "missing"), ==, 0);
        /* A link as the top name is removed itself. */
        ASSERT_INT(symlinkat(outside.path, t.fd, "top"), ==, 0);
        ASSERT_INT(rm_tree_at(t.fd, "top"), ==, 0);
        ASSERT_INT(fstatat(outside.fd, "precious", &st, 0), ==, 0);
        fake_tree_free(&t);
        fake_tree_free(&outside);
        return 0;
}

TEST(read_regular_only)
{
        FakeTree t;
        _cleanup_free_ char *s = NULL;
        size_t n;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_write(&t, "ep.json", "{}"), ==, 0);
        ASSERT_INT(read_regular_file_at(t.fd, "ep.json", 100, &s, &n), ==, 0);
        ASSERT_STR(s, "{}");
        ASSERT_INT(symlinkat("/etc/passwd", t.fd, "link.json"), ==, 0);
        ASSERT_INT(read_regular_file_at(t.fd, "link.json", 100000, &s, &n), ==, -ELOOP);
        /* A FIFO would block a reader forever: refused without waiting. */
        ASSERT_INT(mkfifoat(t.fd, "fifo.json", 0600), ==, 0);
        ASSERT_INT(read_regular_file_at(t.fd, "fifo.json", 100, &s, &n), ==, -EINVAL);
        fake_tree_free(&t);
        return 0;
}

TAP_MAIN(T(read_virtual), T(write_string), T(write_atomic), T(read_file),
        T(rm_tree_does_not_follow_symlinks), T(read_regular_only))
