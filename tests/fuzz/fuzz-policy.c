/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "policies/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_policy(const Policy *p)
{
        char *s = NULL;
        size_t len;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                abort();
        if (policy_print(p, f) < 0)
                abort();
        fclose(f);
        return s;
}

/* Any input must load or fail cleanly; a policy that loads must print as a policy that loads
 * again and prints the same (what 'memgov check' shows is what memgov runs with). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        PolicyDiag d = {}, d2 = {};
        Policy p, q;
        char *a, *b;

        if (size > 64 * 1024)
                return 0;
        if (policy_load_buffer("fuzz.ini", (const char *)data, size, &p, &d) < 0) {
                /* A rejected policy must say why. */
                if (d.n_errors == 0)
                        abort();
                policy_diag_done(&d);
                return 0;
        }
        policy_diag_done(&d);
        a = print_policy(&p);
        if (policy_load_buffer("fuzz.ini", a, strlen(a), &q, &d2) < 0) {
                /* The one accepted difference: a command word that needs quotes when printed can
                 * push a line that was at the 199-byte limit over it. */
                bool only_length = d2.n_errors > 0;
                for (size_t i = 0; i < d2.n_errors; i++)
                        only_length = only_length && strstr(d2.errors[i], "bytes long, over the 199 bytes");
                if (!only_length) {
                        fprintf(stderr, "re-load failed: %s\n", d2.n_errors ? d2.errors[0] : "?");
                        abort();
                }
                free(a);
                policy_done(&p);
                policy_diag_done(&d2);
                return 0;
        }
        b = print_policy(&q);
        if (!streq(a, b))
                abort();
        free(a);
        free(b);
        policy_done(&p);
        policy_done(&q);
        policy_diag_done(&d2);
        return 0;
}
