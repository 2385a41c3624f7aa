/* The tools `sisagent NAME ARGS...` runs: tools.c's table names them, each lives in its own file.
 * A handler gets the arguments after NAME (argv[argc] is NULL) and returns the exit code. */
#ifndef SISAGENT_H
#define SISAGENT_H

typedef int tool_fn(int argc, char **argv);

int run_tool(int argc, char **argv);                 /* tools.c: main's argc/argv, NAME in argv[1] */
tool_fn tool_ops, tool_dump, tool_check, tool_marks, tool_restore, tool_now;   /* fsops.c */
tool_fn tool_pmu;                                    /* pmu.c */
tool_fn tool_profile;                                /* profile.c */
tool_fn tool_bench;                                  /* bench.c */
tool_fn tool_fuzz;                                   /* fuzzops.c */
tool_fn tool_logwrites, tool_logwrites_end, tool_log_entries, tool_log_replay;   /* logwrites.c */
tool_fn tool_data_recv, tool_data_send, tool_crc;            /* datalink.c */

#endif
