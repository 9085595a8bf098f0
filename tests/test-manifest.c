/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>

#include "common/macro.h"
#include "policies/policy.h"
#include "runner/manifest.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

#define BOTH (PROTOCOL_HTTP | PROTOCOL_HTTPS)

typedef struct Out {
        char entries[16384];
        char errors[16384];
        int n_entries;
        int n_errors;
        int stop_after; /* entries before the entry callback says stop; 0 = never */
} Out;

static void append(char *buf, size_t size, const char *s)
{
        size_t n = strlen(buf);

        snprintf(buf + n, size - n, "%s\n", s);
}

static int on_entry(const ManifestEntry *e, void *userdata)
{
        Out *o = userdata;
        char line[1024];

        snprintf(line, sizeof(line), "%u|%s|%s|%s", e->line, e->id, e->url, e->title ? e->title : "(none)");
        append(o->entries, sizeof(o->entries), line);
        o->n_entries++;
        return o->stop_after && o->n_entries >= o->stop_after ? -ECANCELED : 0;
}

static int on_error(unsigned line, const char *message, void *userdata)
{
        Out *o = userdata;

        append(o->errors, sizeof(o->errors), message);
        o->n_errors++;
        return 0;
}

static int parse(const char *text, unsigned protocols, Out *o)
{
        memset(o, 0, sizeof(*o));
        return manifest_parse_buffer("m.jsonl", text, strlen(text), protocols, on_entry, on_error, o);
}

TEST(good_lines)
{
        Out o;
        const char *text =
                "\xef\xbb\xbf{\"id\":\"8670\",\"url\":\"https://cdn.example.org/ep.mp3\",\"title\":\"Ep 8670\"}\n"
                "\n"
                "   # a comment\n"
                "# {\"id\":\"not-parsed\"}\n"
                "  {\"url\":\"http://example.org:8080/a?b=c#d\", \"id\": \"a.b_c-9\", \"extra\": [1, 2]}  \r\n"
                "{\"id\":42,\"url\":\"HTTPS://[::1]:8443/x\",\"title\":null}\n"
                "{\"id\":\"t\",\"url\":\"https://h/\",\"title\":\"caf\xc3\xa9 \\u00e9\"}";

        ASSERT_INT(parse(text, BOTH, &o), ==, 0);
        ASSERT_STR(o.errors, "");
        ASSERT_INT(o.n_entries, ==, 4);
        ASSERT_STR(o.entries,
                "1|8670|https://cdn.example.org/ep.mp3|Ep 8670\n"
                "5|a.b_c-9|http://example.org:8080/a?b=c#d|(none)\n"
                "6|42|HTTPS://[::1]:8443/x|(none)\n"
                "7|t|https://h/|caf\xc3\xa9 \xc3\xa9\n");
        /* An empty manifest is fine too. */
        ASSERT_INT(parse("", BOTH, &o), ==, 0);
        ASSERT_INT(parse("\n\n# nothing\n", BOTH, &o), ==, 0);
        ASSERT_INT(o.n_entries, ==, 0);
        return 0;
}

/* Every kind of bad line, each reported with its line number, and the good lines around them
 * still delivered. */
TEST(bad_lines)
{
        static const struct {
                const char *line;
                const char *message;
        } cases[] = {
                { "{\"id\":\"1\",\"url\":\"https://h/1\"}", NULL },
                { "  not json", "m.jsonl:2: not valid JSON (near column 3)" },
                { "[1,2]", "m.jsonl:3: not a JSON object" },
                { "{\"url\":\"https://h/x\"}", "m.jsonl:4: missing \"id\"" },
                { "{\"id\":\"5\"}", "m.jsonl:5: episode 5: missing \"url\"" },
                { "{\"id\":\"../etc\",\"url\":\"https://h/\"}", "m.jsonl:6: invalid id \"../etc\"" },
                { "{\"id\":\"7\",\"url\":\"ftp://h/x\"}",
                        "m.jsonl:7: episode 7: URL scheme \"ftp\" is not allowed (fetch.protocols = http, https)" },
                { "{\"id\":\"8\",\"url\":\"https://user:s3cret@h/x\"}",
                        "m.jsonl:8: episode 8: the URL contains credentials" },
                { "{\"id\":\"1\",\"url\":\"https://h/again\"}",
                        "m.jsonl:9: duplicate id \"1\" (first on line 1)" },
                { "{\"id\":\"10\",\"url\":\"https://h/10\"}", NULL },
                { "{\"id\":\"11\",\"url\":\"https:///nohost\"}",
                        "m.jsonl:11: episode 11: the URL has no host" },
                { "{\"id\":\"12\",\"url\":\"https://h/a b\"}",
                        "m.jsonl:12: episode 12: the URL contains white space" },
                { "{\"id\":\"13\",\"url\":\"https://h/\",\"id\":\"x\"}",
                        "m.jsonl:13: duplicate key \"id\"" },
                { "{\"id\":\"14\",\"url\":\"https://h/\",\"title\":\"a\\u0007b\"}",
                        "m.jsonl:14: episode 14: \"title\" contains control characters" },
                { "{\"id\":\"15\",\"url\":\"https://h/\",\"title\":3}",
                        "m.jsonl:15: episode 15: \"title\" must be a string" },
                { "{\"id\":\"16\",\"url\":\"https://h/\"} trailing",
                        "m.jsonl:16: unexpected text after the JSON object (column 32)" },
                { "{\"id\":true,\"url\":\"https://h/\"}", "m.jsonl:17: \"id\" must be a string" },
                { "{\"id\":\"18\",\"url\":17}", "m.jsonl:18: episode 18: \"url\" must be a string" },
                { "{\"id\":\"\\u0001\",\"url\":\"https://h/\"}", "m.jsonl:19: invalid id \"\\x01\"" },
                { "{\"id\":\"20\",\"url\":\"https://h/\xc3\xa9\"}",
                        "m.jsonl:20: episode 20: the URL contains a non-ASCII character" },
                { "{\"id\":1.5,\"url\":\"https://h/\"}", "m.jsonl:21: \"id\" must be a string" },
                { "{\"id\":\"22\",\"url\":\"https://h:99999/\"}",
                        "m.jsonl:22: episode 22: the URL has an invalid port" },
                { "{\"id\":\"23\",\"url\":\"https://h/23\",\"title\":\"fine\"}", NULL },
        };
        char text[8192] = "", want_entries[1024] = "";
        int want_errors = 0;
        Out o;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                append(text, sizeof(text), cases[i].line);
                want_errors += cases[i].message != NULL;
        }
        ASSERT_INT(parse(text, BOTH, &o), ==, want_errors);
        ASSERT_INT(o.n_errors, ==, want_errors);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (cases[i].message)
                        ASSERT_CONTAINS(o.errors, cases[i].message);
        snprintf(want_entries, sizeof(want_entries),
                "1|1|https://h/1|(none)\n10|10|https://h/10|(none)\n"
                "23|23|https://h/23|fine\n");
        ASSERT_STR(o.entries, want_entries);
        /* The password never reaches a message. */
        ASSERT_TRUE(!strstr(o.errors, "s3cret"));
        return 0;
}

TEST(protocols)
{
        Out o;

        ASSERT_INT(parse("{\"id\":\"a\",\"url\":\"http://h/\"}\n{\"id\":\"b\",\"url\":\"https://h/\"}\n",
                           PROTOCOL_HTTPS, &o),
                ==, 1);
        ASSERT_CONTAINS(o.errors,
                "m.jsonl:1: episode a: URL scheme \"http\" is not allowed (fetch.protocols = https)");
        ASSERT_INT(o.n_entries, ==, 1);
        ASSERT_INT(parse("{\"id\":\"a\",\"url\":\"https://h/\"}", PROTOCOL_HTTP, &o), ==, 1);
        ASSERT_CONTAINS(o.errors, "(fetch.protocols = http)");
        return 0;
}

TEST(url_check)
{
        static const struct {
                const char *url;
                const char *error; /* NULL: valid */
        } cases[] = {
                { "https://example.org/ep.mp3", NULL },
                { "http://example.org", NULL },
                { "https://EXAMPLE.org:443/a/b?x=1&y=%20#t", NULL },
                { "https://[2001:db8::1]/x", NULL },
                { "https://[2001:db8::1]:8080", NULL },
                { "https://127.0.0.1:8080/x", NULL },
                { "https://h:/x", NULL },
                { "", "empty" },
                { "example.org/ep.mp3", "no scheme" },
                { "/ep.mp3", "no scheme" },
                { "1http://h/", "no scheme" },
                { "https:h/x", "no host" },
                { "https://", "no host" },
                { "https://:80/x", "no host" },
                { "https://?q", "no host" },
                { "https://user@h/", "credentials" },
                { "https://user:pw@h/", "credentials" },
                { "https://h/x\ty", "white space" },
                { "https://h/x\x7f", "control" },
                { "https://[::1/x", "unterminated" },
                { "https://[::1]x/", "after its [IPv6] host" },
                { "https://h:80x/", "invalid port" },
                { "https://h:0/", "invalid port" },
                { "https://h:123456/", "invalid port" },
                { "https://h\\x/", "invalid character" },
                { "file:///etc/passwd", "not allowed" },
                { "gopher://h/", "not allowed" },
        };
        char err[256];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r;
                err[0] = 0;
                r = manifest_check_url(cases[i].url, BOTH, err, sizeof(err));
                if (cases[i].error ? r != -EINVAL || !strstr(err, cases[i].error) : r != 0) {
                        printf("# %s: r=%d err='%s'\n", cases[i].url, r, err);
                        return -1;
                }
        }
        ASSERT_INT(manifest_check_url(NULL, BOTH, err, sizeof(err)), ==, -EINVAL);
        ASSERT_INT(manifest_check_url("https://h/", 0, err, sizeof(err)), ==, -EINVAL);
        ASSERT_CONTAINS(err, "fetch.protocols = none");
        return 0;
}

TEST(id_valid)
{
        char longest[EPISODE_ID_MAX + 2];

        ASSERT_TRUE(episode_id_valid("8670"));
        ASSERT_TRUE(episode_id_valid("a"));
        ASSERT_TRUE(episode_id_valid("..."));
        ASSERT_TRUE(episode_id_valid(".hidden"));
        ASSERT_TRUE(episode_id_valid("A-Z_a.z-09"));
        ASSERT_TRUE(!episode_id_valid(NULL));
        ASSERT_TRUE(!episode_id_valid(""));
        ASSERT_TRUE(!episode_id_valid("."));
        ASSERT_TRUE(!episode_id_valid(".."));
        ASSERT_TRUE(!episode_id_valid("a/b"));
        ASSERT_TRUE(!episode_id_valid("a b"));
        ASSERT_TRUE(!episode_id_valid("caf\xc3\xa9"));
        ASSERT_TRUE(!episode_id_valid("a\nb"));
        memset(longest, 'x', sizeof(longest));
        longest[EPISODE_ID_MAX] = 0;
        ASSERT_TRUE(episode_id_valid(longest));
        longest[EPISODE_ID_MAX] = 'x';
        longest[EPISODE_ID_MAX + 1] = 0;
        ASSERT_TRUE(!episode_id_valid(longest));
        return 0;
}

/* Builds a manifest whose second line is n bytes long (a JSON line padded with a long title). */
static char *manifest_with_line(size_t n)
{
        const char *head = "{\"id\":\"a\",\"url\":\"https://h/a\"}\n";
        const char *tail = "\n{\"id\":\"c\",\"url\":\"https://h/c\"}";
        const char *pre = "{\"id\":\"b\",\"url\":\"https://h/b\",\"title\":\"";
        size_t hl = strlen(head), pl = strlen(pre), tl = strlen(tail);
        char *s = malloc(hl + n + tl + 1);

        if (!s)
                return NULL;
        memcpy(s, head, hl);
        memcpy(s + hl, pre, pl);
        memset(s + hl + pl, 'x', n - pl - 2);
        memcpy(s + hl + n - 2, "\"}", 2);
        memcpy(s + hl + n, tail, tl + 1);
        return s;
}

static int parse_as_file(const char *text, Out *o)
{
        FakeTree t;
        char path[PATH_MAX + 16];
        int r;

        memset(o, 0, sizeof(*o));
        if (fake_tree_new(&t) < 0 || fake_tree_write(&t, "m.jsonl", text) < 0)
                return -999;
        snprintf(path, sizeof(path), "%s/m.jsonl", t.path);
        r = manifest_parse_file(path, BOTH, on_entry, on_error, o);
        fake_tree_free(&t);
        return r;
}

TEST(long_lines)
{
        _cleanup_free_ char *ok = manifest_with_line(MANIFEST_LINE_MAX),
                            *big = manifest_with_line(MANIFEST_LINE_MAX + 1),
                            *huge = manifest_with_line(5 * MANIFEST_LINE_MAX + 17);
        Out o;

        ASSERT_TRUE(ok && big && huge);
        ASSERT_INT(parse(ok, BOTH, &o), ==, 0);
        ASSERT_INT(o.n_entries, ==, 3);
        ASSERT_INT(parse_as_file(ok, &o), ==, 0);
        ASSERT_INT(o.n_entries, ==, 3);

        ASSERT_INT(parse(big, BOTH, &o), ==, 1);
        ASSERT_CONTAINS(o.errors, "m.jsonl:2: line is longer than 16384 bytes");
        ASSERT_CONTAINS(o.entries, "3|c|");
        ASSERT_INT(parse_as_file(big, &o), ==, 1);
        ASSERT_CONTAINS(o.errors, "m.jsonl:2: line is longer than 16384 bytes");
        ASSERT_CONTAINS(o.entries, "1|a|");
        ASSERT_CONTAINS(o.entries, "3|c|");

        /* Longer than the read buffer several times over: skipped, line numbers still right. */
        ASSERT_INT(parse_as_file(huge, &o), ==, 1);
        ASSERT_CONTAINS(o.errors, "m.jsonl:2: line is longer");
        ASSERT_INT(o.n_entries, ==, 2);
        ASSERT_CONTAINS(o.entries, "3|c|");
        return 0;
}

TEST(file_matches_buffer)
{
        const char *text =
                "# header\n{\"id\":\"1\",\"url\":\"https://h/1\"}\r\nbad\n\n{\"id\":\"1\",\"url\":\"https://h/1\"}\n"
                "{\"id\":\"2\",\"url\":\"https://h/2\",\"title\":\"T\"}";
        Out a, b;

        ASSERT_INT(parse(text, BOTH, &a), ==, 2);
        ASSERT_INT(parse_as_file(text, &b), ==, 2);
        ASSERT_STR(a.entries, b.entries);
        ASSERT_TRUE(strstr(b.errors, "m.jsonl:3: not valid JSON (near column 1)") != NULL);
        ASSERT_TRUE(strstr(b.errors, "m.jsonl:5: duplicate id \"1\" (first on line 2)") != NULL);
        ASSERT_STR(a.entries, "2|1|https://h/1|(none)\n6|2|https://h/2|T\n");
        return 0;
}

TEST(missing_file)
{
        Out o = {};

        ASSERT_INT(manifest_parse_file("/nonexistent/m.jsonl", BOTH, on_entry, on_error, &o), ==, -ENOENT);
        ASSERT_CONTAINS(o.errors, "/nonexistent/m.jsonl: cannot open: No such file or directory");
        return 0;
}

TEST(callback_stops)
{
        const char *text = "{\"id\":\"1\",\"url\":\"https://h/\"}\n{\"id\":\"2\",\"url\":\"https://h/\"}\n"
                           "{\"id\":\"3\",\"url\":\"https://h/\"}\n";
        Out o;

        memset(&o, 0, sizeof(o));
        o.stop_after = 2;
        ASSERT_INT(manifest_parse_buffer("m.jsonl", text, strlen(text), BOTH, on_entry, on_error, &o), ==,
                -ECANCELED);
        ASSERT_INT(o.n_entries, ==, 2);
        /* Without callbacks the count of bad lines is still returned. */
        ASSERT_INT(manifest_parse_buffer("m", "x\ny\n", 4, BOTH, NULL, NULL, NULL), ==, 2);
        /* A NUL inside a line is refused, whatever follows it. */
        memset(&o, 0, sizeof(o));
        ASSERT_INT(manifest_parse_buffer("m", "{\"id\"\0:1}\n", 10, BOTH, on_entry, on_error, &o), ==, 1);
        ASSERT_CONTAINS(o.errors, "m:1: line contains a NUL byte");
        return 0;
}

TAP_MAIN(T(good_lines), T(bad_lines), T(protocols), T(url_check), T(id_valid), T(long_lines),
        T(file_matches_buffer), T(missing_file), T(callback_stops))
