/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "runner/fetch.h"
#include "runner/sha256.h"
#include "runner/sniff.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

static const char *sha_hex(const void *data, size_t len)
{
        static char hex[SHA256_HEX_SIZE];
        Sha256 s;

        sha256_init(&s);
        sha256_update(&s, data, len);
        sha256_final_hex(&s, hex);
        return hex;
}

/* FIPS 180-4 example vectors (NIST CSRC "SHA256.pdf" and the SHA-2 test vector set), for the
 * portable code and, where the CPU has them, the SHA extensions. */
static int check_vectors(void)
{
        ASSERT_STR(sha_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_STR(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ASSERT_STR(sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        ASSERT_STR(
                sha_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                        112),
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
        return 0;
}

static int check_million_a(void)
{
        static char a[1000];
        Sha256 s;
        char hex[SHA256_HEX_SIZE];

        memset(a, 'a', sizeof(a));
        sha256_init(&s);
        for (int i = 0; i < 1000; i++)
                sha256_update(&s, a, sizeof(a));
        sha256_final_hex(&s, hex);
        ASSERT_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        return 0;
}

TEST(sha256_vectors)
{
        sha256_force_portable(true);
        ASSERT_TRUE(!sha256_accelerated());
        ASSERT_INT(check_vectors(), ==, 0);
        sha256_force_portable(false);
        ASSERT_INT(check_vectors(), ==, 0);
        return 0;
}

TEST(sha256_million_a)
{
        sha256_force_portable(true);
        ASSERT_INT(check_million_a(), ==, 0);
        sha256_force_portable(false);
        ASSERT_INT(check_million_a(), ==, 0);
        return 0;
}

/* The two implementations agree on every length and alignment. */
TEST(sha256_paths_agree)
{
        static uint8_t buf[4200];
        char a[SHA256_HEX_SIZE];
        uint32_t x = 12345;

        if (!sha256_accelerated())
                return tap_skip("this CPU has no SHA extensions: only the portable code runs");
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)((x = x * 1103515245 + 12345) >> 16);
        for (size_t len = 0; len < 4100; len += 37)
                for (size_t off = 0; off < 4; off++) {
                        sha256_force_portable(true);
                        snprintf(a, sizeof(a), "%s", sha_hex(buf + off, len));
                        sha256_force_portable(false);
                        ASSERT_STR(sha_hex(buf + off, len), a);
                }
        return 0;
}

/* Splitting the input anywhere must not change the digest (the streaming path gets arbitrary
 * chunk sizes from libcurl). */
TEST(sha256_chunking)
{
        static uint8_t buf[1000];
        char whole[SHA256_HEX_SIZE], parts[SHA256_HEX_SIZE];
        Sha256 s;

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)(i * 7 + 3);
        snprintf(whole, sizeof(whole), "%s", sha_hex(buf, sizeof(buf)));
        for (size_t step = 1; step < 130; step += 7) {
                sha256_init(&s);
                for (size_t off = 0; off < sizeof(buf); off += step)
                        sha256_update(&s, buf + off, MIN(step, sizeof(buf) - off));
                sha256_final_hex(&s, parts);
                ASSERT_STR(parts, whole);
        }
        /* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes). */
        ASSERT_STR(sha_hex(buf, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        for (size_t n = 54; n <= 66; n++) {
                sha256_init(&s);
                sha256_update(&s, buf, n / 2);
                sha256_update(&s, buf + n / 2, n - n / 2);
                sha256_final_hex(&s, parts);
                ASSERT_STR(parts, sha_hex(buf, n));
        }
        return 0;
}

TEST(sniff)
{
        static const struct {
                const char *bytes;
                size_t len;
                AudioFormat want;
        } cases[] = {
                { "ID3\x04\x00\x00\x00\x00\x01\x7f", 10, AUDIO_FORMAT_MP3 },
                { "ID3\x04\x00\x00\x00\x00\x01\x80", 10, AUDIO_FORMAT_UNKNOWN }, /* not syncsafe */
                { "ID3 is a tag", 12, AUDIO_FORMAT_UNKNOWN },
                { "\xff\xfb\x90\x64", 4, AUDIO_FORMAT_MP3 },     /* MPEG-1 layer III 128k 44.1k */
                { "\xff\xf3\x48\xc4", 4, AUDIO_FORMAT_MP3 },     /* MPEG-2 layer III */
                { "\xff\xf1\x50\x80", 4, AUDIO_FORMAT_UNKNOWN }, /* ADTS AAC: layer 00 */
                { "\xff\xfb\xf0\x64", 4, AUDIO_FORMAT_UNKNOWN }, /* bad bitrate index */
                { "\xff\xfb\x9c\x64", 4, AUDIO_FORMAT_UNKNOWN }, /* reserved sample rate */
                { "\xff\xeb\x90\x64", 4, AUDIO_FORMAT_UNKNOWN }, /* reserved version */
                { "RIFF\x24\x00\x00\x00WAVEfmt ", 16, AUDIO_FORMAT_WAV },
                { "RIFF\x24\x00\x00\x00AVI LIST", 16, AUDIO_FORMAT_UNKNOWN },
                { "\x00\x00\x00\x20"
                  "ftypM4A \x00\x00\x00\x00",
                        16, AUDIO_FORMAT_M4A },
                { "\x00\x00\x00\x18"
                  "ftypisom",
                        12, AUDIO_FORMAT_M4A },
                { "OggS\x00\x02", 6, AUDIO_FORMAT_OGG },
                { "fLaC\x00\x00\x00\x22", 8, AUDIO_FORMAT_FLAC },
                { "<html><body>", 12, AUDIO_FORMAT_UNKNOWN },
                { "RIFF", 4, AUDIO_FORMAT_UNKNOWN }, /* too short to tell */
                { "", 0, AUDIO_FORMAT_UNKNOWN },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AudioFormat f = sniff_audio_format(cases[i].bytes, cases[i].len);
                if (f != cases[i].want) {
                        printf("# case %zu: got %s, want %s\n", i, audio_format_to_string(f),
                                audio_format_to_string(cases[i].want));
                        return -1;
                }
        }
        ASSERT_INT(sniff_audio_format(NULL, 0), ==, AUDIO_FORMAT_UNKNOWN);
        for (unsigned f = 0; f < _AUDIO_FORMAT_MAX; f++)
                ASSERT_INT(audio_format_from_string(audio_format_to_string(f)), ==, (int)f);
        ASSERT_INT(audio_format_from_string("mp4"), ==, -EINVAL);
        ASSERT_TRUE(audio_format_to_string(_AUDIO_FORMAT_MAX) == NULL);
        return 0;
}

TEST(content_range)
{
        uint64_t a, b, t;

        ASSERT_INT(fetch_parse_content_range("bytes 100-199/1000", &a, &b, &t), ==, 0);
        ASSERT_U64(a, 100);
        ASSERT_U64(b, 199);
        ASSERT_U64(t, 1000);
        ASSERT_INT(fetch_parse_content_range("bytes */4711", &a, &b, &t), ==, 0);
        ASSERT_U64(a, UINT64_MAX);
        ASSERT_U64(t, 4711);
        ASSERT_INT(fetch_parse_content_range("bytes 0-9/*", &a, &b, &t), ==, 0);
        ASSERT_U64(t, UINT64_MAX);
        ASSERT_INT(fetch_parse_content_range("Bytes 0-0/1", &a, &b, &t), ==, 0);
        ASSERT_INT(fetch_parse_content_range("bytes 10-5/100", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("bytes 0-100/100", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("bytes 0-9", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("items 0-9/10", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("bytes 0-9/10x", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("bytes -5/10", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("bytes 0-99999999999999999999999/1", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range("", &a, &b, &t), ==, -EINVAL);
        ASSERT_INT(fetch_parse_content_range(NULL, &a, &b, &t), ==, -EINVAL);
        return 0;
}

TEST(retry_after)
{
        /* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example date) is 784111777. */
        ASSERT_INT(fetch_parse_retry_after("7", 0), ==, 7);
        ASSERT_INT(fetch_parse_retry_after("0", 0), ==, 0);
        ASSERT_INT(fetch_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), ==, 30);
        ASSERT_INT(fetch_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30), ==, 0);
        ASSERT_INT(fetch_parse_retry_after("99999999999", 0), ==, INT32_MAX);
        ASSERT_INT(fetch_parse_retry_after("7s", 0), ==, -EINVAL);
        ASSERT_INT(fetch_parse_retry_after("soon", 0), ==, -EINVAL);
        ASSERT_INT(fetch_parse_retry_after("", 0), ==, -EINVAL);
        return 0;
}

TEST(classify)
{
        ASSERT_INT(fetch_classify_http_status(200), ==, FETCH_OK);
        ASSERT_INT(fetch_classify_http_status(206), ==, FETCH_OK);
        ASSERT_INT(fetch_classify_http_status(404), ==, FETCH_PERMANENT);
        ASSERT_INT(fetch_classify_http_status(410), ==, FETCH_PERMANENT);
        ASSERT_INT(fetch_classify_http_status(401), ==, FETCH_PERMANENT);
        ASSERT_INT(fetch_classify_http_status(403), ==, FETCH_PERMANENT);
        ASSERT_INT(fetch_classify_http_status(304), ==, FETCH_PERMANENT);
        ASSERT_INT(fetch_classify_http_status(408), ==, FETCH_RETRYABLE);
        ASSERT_INT(fetch_classify_http_status(429), ==, FETCH_RETRYABLE);
        ASSERT_INT(fetch_classify_http_status(500), ==, FETCH_RETRYABLE);
        ASSERT_INT(fetch_classify_http_status(503), ==, FETCH_RETRYABLE);
        ASSERT_INT(fetch_classify_http_status(599), ==, FETCH_RETRYABLE);
        ASSERT_STR(fetch_outcome_to_string(FETCH_RETRYABLE), "retryable");
        return 0;
}

TEST(redact_and_margin)
{
        char buf[256];

        ASSERT_STR(fetch_redact_url("https://user:secret@example.com/ep.mp3?x=1", buf, sizeof(buf)),
                "https://example.com/ep.mp3?x=1");
        ASSERT_STR(fetch_redact_url("http://example.com:8080/a", buf, sizeof(buf)),
                "http://example.com:8080/a");
        ASSERT_STR(fetch_redact_url("not a url", buf, sizeof(buf)), "(invalid URL)");
        ASSERT_U64(fetch_min_free_auto(1024 * 1024), 52428);
        ASSERT_U64(fetch_min_free_auto(100ULL << 30), 64ULL << 20);
        return 0;
}

/* The checks that come before any network I/O: a refused URL leaves nothing in the spool. */
TEST(refused_before_connecting)
{
        static const struct {
                const char *url;
                unsigned protocols;
                const char *want;
        } cases[] = {
                { "file:///etc/passwd", PROTOCOL_HTTP | PROTOCOL_HTTPS, "protocol 'file' is not allowed" },
                { "ftp://example.com/a.mp3", PROTOCOL_HTTP | PROTOCOL_HTTPS,
                        "protocol 'ftp' is not allowed" },
                { "http://example.com/a.mp3", PROTOCOL_HTTPS,
                        "protocol 'http' is not allowed (allowed: https)" },
                { "example.com/a.mp3", PROTOCOL_HTTP | PROTOCOL_HTTPS, "not a valid absolute URL" },
        };
        FakeTree t;
        FetchParams p;
        FetchResult r;
        struct stat st;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                fetch_params_init(&p, NULL);
                p.url = cases[i].url;
                p.protocols = cases[i].protocols;
                p.spool_fd = t.fd;
                p.name = "1.audio";
                ASSERT_INT(fetch_run(&p, &r), <, 0);
                ASSERT_INT(r.outcome, ==, FETCH_PERMANENT);
                ASSERT_CONTAINS(r.error, cases[i].want);
                fetch_result_done(&r);
                ASSERT_INT(fstatat(t.fd, "1.audio.part", &st, 0), ==, -1);
                ASSERT_INT(fstatat(t.fd, "1.audio", &st, 0), ==, -1);
        }
        fake_tree_free(&t);
        return 0;
}

TEST(bad_params)
{
        FakeTree t;
        FetchParams p;
        FetchResult r;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        fetch_params_init(&p, NULL);
        p.url = "http://127.0.0.1:9/x";
        p.spool_fd = t.fd;
        p.name = "../x";
        ASSERT_INT(fetch_run(&p, &r), ==, -EINVAL);
        p.name = "x";
        p.part_name = "x";
        ASSERT_INT(fetch_run(&p, &r), ==, -EINVAL);
        p.part_name = "";
        ASSERT_INT(fetch_run(&p, &r), ==, -EINVAL);
        p.part_name = NULL;
        p.spool_fd = -1;
        ASSERT_INT(fetch_run(&p, &r), ==, -EINVAL);
        ASSERT_INT(fetch_run(NULL, &r), ==, -EINVAL);
        fake_tree_free(&t);
        return 0;
}

TEST(params_from_policy)
{
        Policy pol;
        FetchParams p;

        ASSERT_INT(policy_init_defaults(&pol), ==, 0);
        pol.fetch.max_file_size_bytes = 12345;
        pol.fetch.max_redirects = 3;
        pol.fetch.protocols = PROTOCOL_HTTPS;
        fetch_params_init(&p, &pol);
        ASSERT_U64(p.max_file_size_bytes, 12345);
        ASSERT_INT(p.max_redirects, ==, 3);
        ASSERT_INT(p.protocols, ==, PROTOCOL_HTTPS);
        ASSERT_STR(p.user_agent, pol.fetch.user_agent);
        ASSERT_TRUE(p.drop_page_cache);
        ASSERT_U64(p.min_free_bytes, FETCH_MIN_FREE_AUTO);
        policy_done(&pol);
        /* The built-in defaults equal the shipped policy's. */
        ASSERT_INT(policy_init_defaults(&pol), ==, 0);
        fetch_params_init(&p, NULL);
        ASSERT_U64(p.max_file_size_bytes, pol.fetch.max_file_size_bytes);
        ASSERT_U64(p.connect_timeout_usec, pol.fetch.connect_timeout_usec);
        ASSERT_U64(p.low_speed_limit_bytes, pol.fetch.low_speed_limit_bytes);
        ASSERT_U64(p.low_speed_time_usec, pol.fetch.low_speed_time_usec);
        ASSERT_INT(p.max_redirects, ==, pol.fetch.max_redirects);
        ASSERT_STR(p.user_agent, pol.fetch.user_agent);
        policy_done(&pol);
        return 0;
}

TAP_MAIN(T(sha256_vectors), T(sha256_million_a), T(sha256_paths_agree), T(sha256_chunking), T(sniff),
        T(content_range), T(retry_after), T(classify), T(redact_and_margin), T(refused_before_connecting),
        T(bad_params), T(params_from_policy))
