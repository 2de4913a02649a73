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
noinst_PROGRAMS += tests/fuzz/fuzz_pdf
tests_fuzz_fuzz_pdf_SOURCES = tests/fuzz/fuzz_pdf.c
tests_fuzz_fuzz_pdf_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_pdf_LDADD = $(SMIME_LIBS)
# the verification engine: a whole message, and one CMS in files (both with fuzz-trust.h)
noinst_PROGRAMS += tests/fuzz/fuzz_verify tests/fuzz/fuzz_cms
tests_fuzz_fuzz_verify_SOURCES = tests/fuzz/fuzz_verify.c tests/fuzz/fuzz-trust.h
tests_fuzz_fuzz_verify_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_verify_LDADD = $(SMIME_LIBS)
tests_fuzz_fuzz_cms_SOURCES = tests/fuzz/fuzz_cms.c tests/fuzz/fuzz-trust.h
tests_fuzz_fuzz_cms_LDFLAGS = $(AM_LDFLAGS) $(FUZZER_LINK)
tests_fuzz_fuzz_cms_LDADD = $(SMIME_LIBS)
endif
