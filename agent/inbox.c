/* inbox.c - the incoming workflow (see agent.h).  First version: keywords only. */
#include "config.h"

#include "agent/agent.h"

static const char *const default_keywords[7] = {
	"KySo_HopLe", "KySo_MotPhan", "KySo_KhongHopLe", "KySo_ChuaXacDinh", "KySo_KhongKy", "KySo_MaHoa",
	"KySo_LoiDinhDang",
};

const char *
inbox_keyword(const struct conf *c, enum smime_verdict v)
{
	if ((unsigned)v >= 7)
		v = SMIME_VERDICT_MALFORMED;
	if (c != NULL && c->agent.keywords[v] != NULL)
		return c->agent.keywords[v];
	return default_keywords[v];
}
