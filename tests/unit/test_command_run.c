/* Unit tests: lib/global/command_run (message delivery to external commands). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "command_run.h"

struct input {
    const char *data;
    size_t len;
    size_t chunk;
    size_t pos;
};

static ssize_t next_chunk(void *ctx, const char **data)
{
    struct input *in = ctx;
    size_t n = in->len - in->pos;
    if (n > in->chunk)
        n = in->chunk;
    *data = in->data + in->pos;
    in->pos += n;
    return (ssize_t)n;
}

static char *const env[] = {"PATH=/usr/bin:/bin", NULL};

static int run(const char *cmd, struct input *in, unsigned limit, struct command_result *res)
{
    struct command_request req = {
        .shell_command = cmd,
        .env = env,
        .time_limit = limit,
        .output_limit = 200,
        .input = next_chunk,
        .input_ctx = in,
    };
    strbuf err = STRBUF_INIT;
    int ret = command_run(&req, res, &err);
    strbuf_release(&err);
    return ret;
}

static void command_receives_whole_input(void **state)
{
    size_t n = 1 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    struct input in = {big, n, 4096, 0};
    char path[] = "/tmp/mta-cmd-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char cmd[128];
    /* stdout redirected: the command closes our output pipe at once but
     * must still get all of its input. */
    snprintf(cmd, sizeof(cmd), "cat > %s", path);
    struct command_result res;
    assert_int_equal(run(cmd, &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, n);
    unlink(path);
    free(big);
    command_result_release(&res);
}

static void exit_codes_map_like_postfix(void **state)
{
    struct input in = {"x\n", 2, 2, 0};
    struct command_result res;
    assert_int_equal(run("exit 75", &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_DEFER);
    assert_string_equal(res.dsn, "4.3.0");
    command_result_release(&res);

    in.pos = 0;
    assert_int_equal(run("exit 67", &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_BOUNCE);
    assert_string_equal(res.dsn, "5.1.1");
    command_result_release(&res);

    in.pos = 0;
    assert_int_equal(run("echo oops; exit 1", &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_BOUNCE);
    assert_string_equal(res.reason.s, "command died with status 1. Command output: oops ");
    command_result_release(&res);

    in.pos = 0;
    assert_int_equal(run("kill -9 $$", &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_DEFER);
    assert_int_equal(res.signal, 9);
    command_result_release(&res);
}

static void time_limit_kills_process_group(void **state)
{
    struct input in = {"", 0, 1, 0};
    struct command_result res;
    assert_int_equal(run("sleep 30 & sleep 30", &in, 1, &res), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.outcome, COMMAND_DEFER);
    command_result_release(&res);
}

static void output_is_bounded_and_input_may_be_ignored(void **state)
{
    size_t n = 1 << 20;
    char *big = calloc(1, n);
    struct input in = {big, n, 65536, 0};
    struct command_result res;
    assert_int_equal(run("head -c 1000000 /dev/zero | tr '\\0' y; exit 0", &in, 60, &res), 0);
    assert_int_equal(res.outcome, COMMAND_OK);
    assert_int_equal(res.output.len, 200);
    free(big);
    command_result_release(&res);
}

static void runs_as_requested_user(void **state)
{
    if (geteuid() != 0) {
        skip();
        return;
    }
    char path[] = "/tmp/mta-id-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    chmod(path, 0666);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "id -u > %s; id -G >> %s", path, path);
    struct input in = {"", 0, 1, 0};
    struct command_request req = {.shell_command = cmd,
                                  .env = env,
                                  .set_ids = true,
                                  .uid = 65534,
                                  .gid = 65534,
                                  .time_limit = 30,
                                  .output_limit = 100,
                                  .input = next_chunk,
                                  .input_ctx = &in};
    struct command_result res;
    strbuf err = STRBUF_INIT;
    assert_int_equal(command_run(&req, &res, &err), 0);
    assert_int_equal(res.outcome, COMMAND_OK);
    FILE *fp = fopen(path, "r");
    char line[64];
    assert_non_null(fgets(line, sizeof(line), fp));
    assert_string_equal(line, "65534\n");
    assert_non_null(fgets(line, sizeof(line), fp));
    assert_string_equal(line, "65534\n");
    fclose(fp);
    unlink(path);
    command_result_release(&res);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(command_receives_whole_input),
        cmocka_unit_test(exit_codes_map_like_postfix),
        cmocka_unit_test(time_limit_kills_process_group),
        cmocka_unit_test(output_is_bounded_and_input_may_be_ignored),
        cmocka_unit_test(runs_as_requested_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
