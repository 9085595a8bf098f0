/* SPDX-License-Identifier: MIT */
#include "common/macro.h"
#include "common/strv.h"
#include "tests/tap.h"

static int split_is(const char *s, const char *const *want)
{
        _cleanup_strv_free_ char **l = NULL;
        size_t i;

        ASSERT_INT(strv_split_quoted(s, &l), ==, 0);
        for (i = 0; want[i]; i++)
                ASSERT_STR(l[i], want[i]);
        ASSERT_TRUE(l[i] == NULL);
        return 0;
}

TEST(split)
{
        ASSERT_INT(split_is("a b  c", (const char *const[]){ "a", "b", "c", NULL }), ==, 0);
        ASSERT_INT(split_is("  ", (const char *const[]){ NULL }), ==, 0);
        ASSERT_INT(split_is("sh -c 'echo $HOME; rm -rf /'",
                           (const char *const[]){ "sh", "-c", "echo $HOME; rm -rf /", NULL }),
                ==, 0);
        ASSERT_INT(split_is("x \"a \\\"q\\\" b\" ''", (const char *const[]){ "x", "a \"q\" b", "", NULL }),
                ==, 0);
        ASSERT_INT(split_is("pre'fix'\"ed\"", (const char *const[]){ "prefixed", NULL }), ==, 0);
        ASSERT_INT(split_is("{audio} $(id) `x` *",
                           (const char *const[]){ "{audio}", "$(id)", "`x`", "*", NULL }),
                ==, 0);
        return 0;
}

TEST(split_errors)
{
        char **l = NULL;

        ASSERT_INT(strv_split_quoted("a 'b", &l), ==, -EINVAL);
        ASSERT_INT(strv_split_quoted("a \"b", &l), ==, -EINVAL);
        ASSERT_TRUE(l == NULL);
        return 0;
}

TEST(join_round_trip)
{
        static const char *const inputs[] = { "a b c", "x \"a b\" ''", "sh -c 'a;b'",
                "q \"\\\\\" ';x' \"'\"", "" };

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                _cleanup_strv_free_ char **a = NULL, **b = NULL;
                _cleanup_free_ char *j = NULL;
                ASSERT_INT(strv_split_quoted(inputs[i], &a), ==, 0);
                j = strv_join_quoted(a);
                ASSERT_TRUE(j);
                ASSERT_INT(strv_split_quoted(j, &b), ==, 0);
                ASSERT_TRUE(strv_equal(a, b));
                /* ';' after a space would start an INI comment. */
                ASSERT_TRUE(!strstr(j, " ;"));
        }
        return 0;
}

TAP_MAIN(T(split), T(split_errors), T(join_round_trip))
