/* libFuzzer harness: the configuration parser must report, never crash. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_report rep = CONF_REPORT_INIT;
	struct conf *c = conf_load_mem("/nonexistent/fuzz.conf", (const char *)data, size, &rep);

	conf_free(&c);
	conf_report_free(&rep);
	return 0;
}
