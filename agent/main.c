/*
 * main.c - the kyso command: one binary, one subcommand per job.
 * Only this file decides exit codes: 0 success, 1 a negative result
 * (a problem found, a verdict other than valid), 2 usage or I/O errors.
 */
#include "config.h"

#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/conf.h"
#include "agent/log.h"
#include "smime/smime.h"

#define EXIT_NEGATIVE 1
#define EXIT_USAGE 2

#ifndef KYSO_SYSCONFDIR
#define KYSO_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF KYSO_SYSCONFDIR "/kyso/kyso.conf"

static void
usage(FILE *fp)
{
	fputs("usage: kyso COMMAND [OPTIONS]\n"
	    "\n"
	    "commands / lệnh:\n"
	    "  sign [OPTIONS] [IN]      sign a message with S/MIME (ký số thư)\n"
	    "  verify [OPTIONS] FILE... check signatures of mail and documents (kiểm tra chữ ký số)\n"
	    "  check-config [-c FILE]   check the configuration (kiểm tra cấu hình)\n"
	    "  agent [-c FILE]          run the agent: sign outgoing, verify incoming mail\n"
	    "                           (chạy dịch vụ ký số và kiểm tra thư)\n"
	    "  version                  print the version and libraries\n"
	    "  help                     this text\n"
	    "\n"
	    "See kyso(1) and kyso.conf(5).\n", fp);
}

static int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("%s\n", smime_version());
	return EXIT_SUCCESS;
}

static int
cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conf_report rep = CONF_REPORT_INIT;
	const char *path = DEFAULT_CONF;
	struct conf *c;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			puts("usage: kyso check-config [-c FILE]");
			return EXIT_SUCCESS;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kyso check-config: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	c = conf_load(path, &rep);
	if (c == NULL) {
		for (size_t i = 0; i < rep.n; i++)
			fprintf(stderr, "%s\n", rep.lines[i]);
		fprintf(stderr, "kyso check-config: %zu problem%s in %s\n", rep.n, rep.n == 1 ? "" : "s", path);
		rc = EXIT_NEGATIVE;
	} else {
		printf("%s: ok: %zu account%s, %zu identit%s\n", path, c->n_accounts,
		    c->n_accounts == 1 ? "" : "s", c->n_identities, c->n_identities == 1 ? "y" : "ies");
		rc = EXIT_SUCCESS;
	}
	conf_report_free(&rep);
	conf_free(&c);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "agent", agent_main },
	{ "check-config", cmd_check_config },
	{ "sign", cli_sign },
	{ "verify", cli_verify },
	{ "version", cmd_version },
	{ "--version", cmd_version },
};

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "kyso: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
