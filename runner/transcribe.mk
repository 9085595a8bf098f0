# SPDX-License-Identifier: MIT
# The transcribe stage (issue 8): splitting without decoding, the command, Gemini and
# OpenAI-compatible backends, and the 'memgov transcribe' verb.
libmemgov_a_SOURCES += \
	runner/audio.c runner/audio.h \
	runner/backend.h \
	runner/backend-command.c \
	runner/backend-gemini.c \
	runner/backend-openai.c \
	runner/http.c runner/http.h \
	runner/transcribe.c runner/transcribe.h

# This fragment is included after cli/local.mk, so the verb joins memgov's sources directly.
memgov_SOURCES += cli/transcribe.c

TRANSCRIBE_TESTS = tests/test-audio tests/test-transcribe-unit
check_PROGRAMS += $(TRANSCRIBE_TESTS)
TESTS += $(TRANSCRIBE_TESTS)
tests_test_audio_LDADD = $(TEST_LIBS)
# Not tests/test-transcribe: its log would collide with tests/test-transcribe.sh's.
tests_test_transcribe_unit_SOURCES = tests/test-transcribe.c
tests_test_transcribe_unit_LDADD = $(TEST_LIBS)

# The stage end to end against mock servers on 127.0.0.1 (python3), and the command backend on
# audio made with espeak-ng, lame and sox (installed by the test when root, else skipped).
TESTS += tests/test-transcribe.sh tests/test-transcribe-gemini.sh tests/test-transcribe-openai.sh
EXTRA_DIST += tests/test-transcribe.sh tests/test-transcribe-gemini.sh tests/test-transcribe-openai.sh \
	tests/mock-gemini.py tests/mock-openai.py tests/fake-transcriber examples/make-episodes

# Fuzz target for the MP3/WAV parsers and the splitter; replays tests/fuzz/corpus/audio/ under
# 'make check' (tests/fuzz/run audio fuzzes it for real).
check_PROGRAMS += tests/fuzz/fuzz-audio
TESTS += tests/fuzz/fuzz-audio
tests_fuzz_fuzz_audio_SOURCES = tests/fuzz/fuzz-audio.c tests/fuzz/fuzz-main.c
tests_fuzz_fuzz_audio_LDADD = $(MEMGOV_LIBS)

# Peak RSS of the stage uploading 10 MB and 500 MB to the mock (run by hand, not by check).
EXTRA_DIST += bench/upload-bench.sh
