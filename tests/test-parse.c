/* SPDX-License-Identifier: MIT */
#include "common/parse.h"
#include "tests/tap.h"

TEST(size)
{
        uint64_t v;

        ASSERT_INT(parse_size("0", false, &v), ==, 0);
        ASSERT_U64(v, 0);
        ASSERT_INT(parse_size("65536", false, &v), ==, 0);
        ASSERT_U64(v, 65536);
        ASSERT_INT(parse_size("64K", false, &v), ==, 0);
        ASSERT_U64(v, 64 * 1024);
        ASSERT_INT(parse_size("512m", false, &v), ==, 0);
        ASSERT_U64(v, 512ULL << 20);
        ASSERT_INT(parse_size("1.5G", false, &v), ==, 0);
        ASSERT_U64(v, 3ULL << 29);
        ASSERT_INT(parse_size("2T", false, &v), ==, 0);
        ASSERT_U64(v, 2ULL << 40);
        ASSERT_INT(parse_size("max", true, &v), ==, 0);
        ASSERT_U64(v, UINT64_MAX);
        ASSERT_INT(parse_size("max", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("1.5", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("-1M", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size(" 1M", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("1M ", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("1MB", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("1Q", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("M", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("1.M", false, &v), ==, -EINVAL);
        ASSERT_INT(parse_size("99999999999999999999", false, &v), ==, -ERANGE);
        ASSERT_INT(parse_size("16777216T", false, &v), ==, -ERANGE);
        return 0;
}

TEST(duration)
{
        usec_t v;

        ASSERT_INT(parse_duration("0", &v), ==, 0);
        ASSERT_U64(v, 0);
        ASSERT_INT(parse_duration("150ms", &v), ==, 0);
        ASSERT_U64(v, 150 * USEC_PER_MSEC);
        ASSERT_INT(parse_duration("2s", &v), ==, 0);
        ASSERT_U64(v, 2 * USEC_PER_SEC);
        ASSERT_INT(parse_duration("15m", &v), ==, 0);
        ASSERT_U64(v, 15 * USEC_PER_MINUTE);
        ASSERT_INT(parse_duration("15min", &v), ==, 0);
        ASSERT_U64(v, 15 * USEC_PER_MINUTE);
        ASSERT_INT(parse_duration("1h30m", &v), ==, 0);
        ASSERT_U64(v, 90 * USEC_PER_MINUTE);
        ASSERT_INT(parse_duration("1h 30m", &v), ==, 0);
        ASSERT_U64(v, 90 * USEC_PER_MINUTE);
        ASSERT_INT(parse_duration("1.5s", &v), ==, 0);
        ASSERT_U64(v, 1500 * USEC_PER_MSEC);
        ASSERT_INT(parse_duration("250us", &v), ==, 0);
        ASSERT_U64(v, 250);
        ASSERT_INT(parse_duration("2d", &v), ==, 0);
        ASSERT_U64(v, 2 * USEC_PER_DAY);
        ASSERT_INT(parse_duration("30", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("s", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("5 parsecs", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("5sec", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("-1s", &v), ==, -EINVAL);
        ASSERT_INT(parse_duration("99999999999999999d", &v), ==, -ERANGE);
        return 0;
}

TEST(percent)
{
        unsigned v;

        ASSERT_INT(parse_percent("10%", &v), ==, 0);
        ASSERT_INT(v, ==, 1000);
        ASSERT_INT(parse_percent("2.5%", &v), ==, 0);
        ASSERT_INT(v, ==, 250);
        ASSERT_INT(parse_percent("0.01%", &v), ==, 0);
        ASSERT_INT(v, ==, 1);
        ASSERT_INT(parse_percent("100%", &v), ==, 0);
        ASSERT_INT(v, ==, 10000);
        ASSERT_INT(parse_percent("100.01%", &v), ==, -ERANGE);
        ASSERT_INT(parse_percent("0.001%", &v), ==, -EINVAL);
        ASSERT_INT(parse_percent("10", &v), ==, -EINVAL);
        ASSERT_INT(parse_percent("%", &v), ==, -EINVAL);
        ASSERT_INT(parse_percent("10 %", &v), ==, -EINVAL);
        return 0;
}

TEST(boolean_uint_double)
{
        unsigned u;
        double d;

        ASSERT_INT(parse_boolean("yes"), ==, 1);
        ASSERT_INT(parse_boolean("On"), ==, 1);
        ASSERT_INT(parse_boolean("false"), ==, 0);
        ASSERT_INT(parse_boolean("0"), ==, 0);
        ASSERT_INT(parse_boolean("maybe"), ==, -EINVAL);
        ASSERT_INT(parse_uint("4294967295", &u), ==, 0);
        ASSERT_INT(parse_uint("4294967296", &u), ==, -ERANGE);
        ASSERT_INT(parse_uint("+1", &u), ==, -EINVAL);
        ASSERT_INT(parse_uint("1x", &u), ==, -EINVAL);
        ASSERT_INT(parse_double("1.25", &d), ==, 0);
        ASSERT_TRUE(d == 1.25);
        ASSERT_INT(parse_double("nan", &d), ==, -EINVAL);
        ASSERT_INT(parse_double("inf", &d), ==, -EINVAL);
        ASSERT_INT(parse_double("1e999", &d), ==, -ERANGE);
        ASSERT_INT(parse_double("-1", &d), ==, -EINVAL);
        return 0;
}

TEST(format_round_trip)
{
        static const uint64_t sizes[] = { 0, 1, 1023, 1024, 1536, 64ULL << 20, 3ULL << 29, 1ULL << 40,
                UINT64_MAX };
        static const usec_t durations[] = { 1, 999, 1000, 150000, 2000000, 90ULL * 60 * 1000000,
                86400000001ULL };
        char buf[FORMAT_DURATION_MAX];

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                uint64_t v;
                ASSERT_INT(parse_size(format_size(buf, sizeof(buf), sizes[i]), true, &v), ==, 0);
                ASSERT_U64(v, sizes[i]);
        }
        ASSERT_STR(format_size(buf, sizeof(buf), 512ULL << 20), "512M");
        ASSERT_STR(format_size(buf, sizeof(buf), 1536), "1536");
        ASSERT_STR(format_size(buf, sizeof(buf), 1ULL << 30), "1G");
        for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
                usec_t v;
                ASSERT_INT(parse_duration(format_duration(buf, sizeof(buf), durations[i]), &v), ==, 0);
                ASSERT_U64(v, durations[i]);
        }
        ASSERT_STR(format_duration(buf, sizeof(buf), 90ULL * 60 * 1000000), "1h30m");
        ASSERT_STR(format_duration(buf, sizeof(buf), 150000), "150ms");
        ASSERT_STR(format_size_human(buf, sizeof(buf), 3ULL << 29), "1.5 GiB");
        return 0;
}

TEST(distance)
{
        ASSERT_INT(string_distance("job_max", "job_max"), ==, 0);
        ASSERT_INT(string_distance("jobmax", "job_max"), ==, 1);
        ASSERT_INT(string_distance("memroy", "memory"), ==, 2);
        ASSERT_INT(string_distance("", "abc"), ==, 3);
        return 0;
}

TAP_MAIN(T(size), T(duration), T(percent), T(boolean_uint_double), T(format_round_trip), T(distance))
