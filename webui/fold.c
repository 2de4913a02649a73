/* fold.c - see fold.h.  (Implemented by the store work; this first version
 * only lower-cases ASCII so that the tree links.) */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "smime/base.h"
#include "webui/fold.h"

char *
webui_fold(const char *utf8)
{
	char *out = xstrdup(utf8);

	for (char *p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}
