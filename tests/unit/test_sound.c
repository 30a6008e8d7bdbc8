/* Sound: --sound's optional value, --microphone, the JSON rows, and the
 * proxy's table of what a client may ask (desktop/pulse_proxy.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "desktop/pulse_proxy.h"
#include "spec/options.h"
#include "spec/spec.h"
#include "spec/spec_json.h"

static int parse(struct spec *s, ab_error *err, int argc, char **argv)
{
    spec_init(s);
    memset(err, 0, sizeof(*err));
    return spec_parse_args(s, argc, argv, NULL, NULL, err);
}

#define PARSE(s, err, ...) ({ char *v_[] = { __VA_ARGS__ }; parse(s, err, (int)(sizeof(v_) / sizeof(v_[0])), v_); })

static void test_sound_value_is_optional(void **state)
{
    struct spec s;
    ab_error err;
    /* alone: the host's server; the next word is the command */
    assert_int_equal(PARSE(&s, &err, "--sound", "paplay", "x.wav"), 0);
    assert_int_equal(s.container.sound, SOUND_HOST);
    assert_string_equal(s.process.argv.v[0], "paplay");
    spec_free(&s);
    /* a mode word after it is its value */
    assert_int_equal(PARSE(&s, &err, "--sound", "alsa", "true"), 0);
    assert_int_equal(s.container.sound, SOUND_ALSA);
    assert_string_equal(s.process.argv.v[0], "true");
    spec_free(&s);
    assert_int_equal(PARSE(&s, &err, "--sound=host", "--microphone", "yes", "true"), 0);
    assert_int_equal(s.container.sound, SOUND_HOST);
    assert_true(s.container.microphone);
    spec_free(&s);
    /* default: no sound, no microphone */
    assert_int_equal(PARSE(&s, &err, "true"), 0);
    assert_int_equal(s.container.sound, SOUND_NONE);
    assert_false(s.container.microphone);
    spec_free(&s);
}

static void test_sound_bad_values(void **state)
{
    struct spec s;
    ab_error err;
    assert_true(PARSE(&s, &err, "--sound=loud", "true") < 0);
    assert_non_null(strstr(err.msg, "--sound: 'loud' is not a sound mode"));
    spec_free(&s);
    assert_true(PARSE(&s, &err, "--microphone", "maybe", "true") < 0);
    assert_non_null(strstr(err.msg, "--microphone: 'maybe' is not a microphone setting (allowed: no, yes)"));
    spec_free(&s);
    /* pipewire cannot be playback-only */
    assert_int_equal(PARSE(&s, &err, "--sound", "pipewire", "true"), 0);
    assert_true(spec_validate(&s, &err) < 0);
    assert_non_null(strstr(err.msg, "--microphone yes"));
    spec_free(&s);
}

static void test_sound_json_round_trip(void **state)
{
    struct spec s, t;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--sound", "pulseaudio", "--microphone", "yes", "true"), 0);
    s.container.sound_server = strdup("/run/user/1000/pulse/native");
    s.container.sound_dir = strdup("/run/user/1000/appbox/x/sound");
    s.container.sound_dir_dev = 42;
    s.container.sound_dir_ino = 4242;
    char *text = spec_to_json(&s);
    assert_non_null(text);
    assert_int_equal(spec_from_json(text, "spec.json", &t, &err), 0);
    assert_int_equal(t.container.sound, SOUND_PULSEAUDIO);
    assert_true(t.container.microphone);
    assert_string_equal(t.container.sound_server, "/run/user/1000/pulse/native");
    assert_string_equal(t.container.sound_dir, "/run/user/1000/appbox/x/sound");
    assert_null(t.container.sound_cookie);
    assert_int_equal(t.container.sound_dir_ino, 4242);
    free(text);
    spec_free(&s);
    spec_free(&t);
}

static void test_proxy_table(void **state)
{
    /* playback, server info: always */
    assert_int_equal(pulse_proxy_command_allowed(3, false), 1);    /* CREATE_PLAYBACK_STREAM */
    assert_int_equal(pulse_proxy_command_allowed(20, false), 1);   /* GET_SERVER_INFO */
    /* recording: only with the microphone */
    assert_int_equal(pulse_proxy_command_allowed(5, false), 0);    /* CREATE_RECORD_STREAM */
    assert_int_equal(pulse_proxy_command_allowed(5, true), 1);
    /* the server's control: never */
    for (int mic = 0; mic < 2; mic++) {
        assert_int_equal(pulse_proxy_command_allowed(7, mic), 0);    /* EXIT */
        assert_int_equal(pulse_proxy_command_allowed(51, mic), 0);   /* LOAD_MODULE */
        assert_int_equal(pulse_proxy_command_allowed(52, mic), 0);   /* UNLOAD_MODULE */
        assert_int_equal(pulse_proxy_command_allowed(48, mic), 0);   /* KILL_CLIENT */
        assert_int_equal(pulse_proxy_command_allowed(67, mic), 0);   /* MOVE_SINK_INPUT */
        assert_int_equal(pulse_proxy_command_allowed(87, mic), 0);   /* EXTENSION */
        assert_int_equal(pulse_proxy_command_allowed(28, mic), 0);   /* GET_CLIENT_INFO_LIST */
        assert_int_equal(pulse_proxy_command_allowed(103, mic), 0);  /* REGISTER_MEMFD_SHMID */
        assert_int_equal(pulse_proxy_command_allowed(1000, mic), 0);
    }
    /* a sink input's volume: only the connection's own */
    assert_int_equal(pulse_proxy_command_allowed(37, false), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_value_is_optional),
        cmocka_unit_test(test_sound_bad_values),
        cmocka_unit_test(test_sound_json_round_trip),
        cmocka_unit_test(test_proxy_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
