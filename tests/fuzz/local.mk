# tests/fuzz/: libFuzzer harnesses, one per parser of untrusted input, each
# with a seed corpus in tests/fuzz/corpus/NAME/.  Built with --enable-fuzzing
# (clang); scripts/fuzz runs each for a bounded time.
EXTRA_DIST += tests/fuzz/corpus
if FUZZING
FUZZER_LINK = -fsanitize=fuzzer
noinst_PROGRAMS += tests/fuzz/fuzz_conf
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c
tests_fuzz_fuzz_conf_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_conf_LDADD = $(AGENT_LIBS)
noinst_PROGRAMS += tests/fuzz/fuzz_canon
tests_fuzz_fuzz_canon_SOURCES = tests/fuzz/fuzz_canon.c
tests_fuzz_fuzz_canon_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_canon_LDADD = $(SMIME_LIBS)
endif
