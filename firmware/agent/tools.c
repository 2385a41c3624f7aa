/*
 * The tools `sisagent NAME ARGS...` runs for campaign scripts in the guest, one
 * file each (its header documents it); a tool runs when NAME has between
 * min_args and max_args (-1: any) arguments. A new tool is a file and a line here.
 */
#include <stdio.h>
#include <string.h>

#include "sisagent.h"

static const struct tool {
    const char *name;
    int min_args, max_args;
    tool_fn *run;
} tools[] = {
    {"ops", 4, 4, tool_ops},
    {"dump", 1, 1, tool_dump},
    {"check", 2, -1, tool_check},
    {"marks", 2, 2, tool_marks},
    {"restore", 2, 2, tool_restore},
    {"logwrites", 3, 3, tool_logwrites},
    {"logwrites-end", 1, 1, tool_logwrites_end},
    {"log-entries", 1, 1, tool_log_entries},
    {"log-replay", 4, 4, tool_log_replay},
    {"now", 0, -1, tool_now},
    {"pmu", 2, -1, tool_pmu},
    {"profile", 2, -1, tool_profile},
    {"bench", 1, -1, tool_bench},
    {"fuzz", 3, 3, tool_fuzz},
    {"data-recv", 4, 4, tool_data_recv},
    {"data-send", 4, 4, tool_data_send},
    {"crc", 1, 1, tool_crc},
};

int run_tool(int argc, char **argv)
{
    int nargs = argc - 2;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        const struct tool *t = &tools[i];
        if (!strcmp(argv[1], t->name) && nargs >= t->min_args && (t->max_args < 0 || nargs <= t->max_args))
            return t->run(nargs, argv + 2);
    }
    fprintf(stderr, "usage: sisagent [ops MOUNT MARKDEV MARKOFFSET OPSFILE | dump DIR | check MNTBASE SERIAL|NAME=DEV... | marks DEV OFFSET | restore DEV BYTES | logwrites NAME DEV LOGDEV | logwrites-end NAME | log-entries LOGDEV | log-replay LOGDEV DEV UPTO DROPPED | "
                    "pmu INTERVAL_MS CMD... | profile HZ CMD... | now | bench WORKLOAD [N] [DIR] | fuzz SERIAL[,SERIAL...] MNTBASE MOUNTOPTS | data-recv|data-send PORT FILE TIMEOUT_S TOKEN | crc FILE]\n");
    return 2;
}
