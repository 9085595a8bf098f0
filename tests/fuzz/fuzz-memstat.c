/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "governor/discover.h"
#include "governor/layout.h"
#include "governor/memstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every kernel-file parser gets every input: none may crash, read out of bounds or accept a
 * value it cannot represent. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text, path[512], mount[512];
        bool a, b;
        MemStat st;
        MemEvents ev;
        PsiStats psi;
        uint64_t v;

        if (size > 65536)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        (void)mem_parse_value(text, &v);
        (void)mem_parse_stat(text, &st);
        (void)mem_parse_events(text, &ev);
        if (psi_parse(text, &psi) == 0 && (psi.some.avg10 > 10000 || psi.full.avg300 > 10000))
                abort();
        (void)cg_parse_events(text, &a, &b);
        if (gov_parse_proc_cgroup(text, path, sizeof(path), &a) == 0 && path[0] != '/')
                abort();
        if (gov_parse_mountinfo(text, mount, sizeof(mount), &a, &b) == 0 && strlen(mount) >= sizeof(mount))
                abort();
        (void)gov_parse_proc_cgroups(text, &a);
        (void)gov_parse_meminfo_total(text, &v);
        free(text);
        return 0;
}
