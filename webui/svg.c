/*
 * svg.c - the overview chart's geometry, computed here so that the template
 * only draws rectangles: one bar per day, stacked by verdict in a fixed
 * order, scaled to the busiest day.  Numbers only: nothing from mail.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "webui/webui-private.h"

#define PAD_LEFT 40
#define PAD_BOTTOM 20
#define PAD_TOP 8

static int64_t
day_count(struct json_object *day, const char *verdict)
{
	struct json_object *v;

	if (!json_object_object_get_ex(day, verdict, &v) || v == NULL)
		return 0;
	return json_object_get_int64(v) > 0 ? json_object_get_int64(v) : 0;
}

struct json_object *
webui_chart(struct json_object *overview, unsigned width, unsigned height)
{
	struct json_object *chart = json_object_new_object();
	struct json_object *bars = json_object_new_array(), *ticks = json_object_new_array();
	struct json_object *legend = json_object_new_array();
	struct json_object *days = NULL;
	int64_t max = 0, totals[32] = { 0 };
	size_t n = 0;
	double plot_w, plot_h, slot;

	if (width < PAD_LEFT + 10)
		width = PAD_LEFT + 10;
	if (height < PAD_BOTTOM + PAD_TOP + 10)
		height = PAD_BOTTOM + PAD_TOP + 10;
	if (overview != NULL && json_object_object_get_ex(overview, "days", &days) &&
	    json_object_is_type(days, json_type_array))
		n = json_object_array_length(days);
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(days, i);
		int64_t sum = 0;

		for (size_t v = 0; v < webui_n_verdicts; v++) {
			int64_t c = day_count(d, webui_verdicts[v]);

			sum += c;
			totals[v] += c;
		}
		if (sum > max)
			max = sum;
	}
	plot_w = (double)(width - PAD_LEFT);
	plot_h = (double)(height - PAD_BOTTOM - PAD_TOP);
	slot = n > 0 ? plot_w / (double)n : plot_w;
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(days, i);
		struct json_object *bar = json_object_new_object(), *segs = json_object_new_array();
		struct json_object *dv;
		double y = (double)PAD_TOP + plot_h;    /* bottom of the stack */
		int64_t sum = 0;
		const char *day = json_object_object_get_ex(d, "day", &dv) ? json_object_get_string(dv) : "";
		char x[32], wd[32];

		for (size_t v = 0; v < webui_n_verdicts; v++) {
			int64_t c = day_count(d, webui_verdicts[v]);
			struct json_object *seg;
			double h;
			char ys[32], hs[32];

			if (c == 0)
				continue;
			sum += c;
			h = max > 0 ? plot_h * (double)c / (double)max : 0;
			y -= h;
			seg = json_object_new_object();
			json_object_object_add(seg, "verdict", json_object_new_string(webui_verdicts[v]));
			snprintf(ys, sizeof(ys), "%.1f", y);
			snprintf(hs, sizeof(hs), "%.1f", h);
			json_object_object_add(seg, "y", json_object_new_string(ys));
			json_object_object_add(seg, "h", json_object_new_string(hs));
			json_object_object_add(seg, "n", json_object_new_int64(c));
			json_object_array_add(segs, seg);
		}
		snprintf(x, sizeof(x), "%.1f", (double)PAD_LEFT + slot * (double)i + slot * 0.1);
		snprintf(wd, sizeof(wd), "%.1f", slot * 0.8);
		json_object_object_add(bar, "day", json_object_new_string(day));
		/* "MM-DD" under the bar */
		json_object_object_add(bar, "label", json_object_new_string(strlen(day) == 10 ? day + 5 : day));
		json_object_object_add(bar, "x", json_object_new_string(x));
		json_object_object_add(bar, "w", json_object_new_string(wd));
		snprintf(x, sizeof(x), "%.1f", (double)PAD_LEFT + slot * (double)i + slot * 0.5);
		json_object_object_add(bar, "cx", json_object_new_string(x));
		json_object_object_add(bar, "total", json_object_new_int64(sum));
		json_object_object_add(bar, "segs", segs);
		json_object_array_add(bars, bar);
	}
	/* y axis: 0, half, max */
	for (int k = 0; k <= 2; k++) {
		struct json_object *t = json_object_new_object();
		char ys[32];
		int64_t val = max * k / 2;

		snprintf(ys, sizeof(ys), "%.1f", (double)PAD_TOP + plot_h - (max > 0 ? plot_h * (double)val / (double)max : 0));
		json_object_object_add(t, "y", json_object_new_string(ys));
		json_object_object_add(t, "label", json_object_new_int64(val));
		json_object_array_add(ticks, t);
		if (max == 0)
			break;
	}
	for (size_t v = 0; v < webui_n_verdicts; v++) {
		struct json_object *l;

		if (totals[v] == 0)
			continue;
		l = json_object_new_object();
		json_object_object_add(l, "verdict", json_object_new_string(webui_verdicts[v]));
		json_object_object_add(l, "n", json_object_new_int64(totals[v]));
		json_object_array_add(legend, l);
	}
	json_object_object_add(chart, "width", json_object_new_int((int)width));
	json_object_object_add(chart, "height", json_object_new_int((int)height));
	json_object_object_add(chart, "left", json_object_new_int(PAD_LEFT));
	json_object_object_add(chart, "baseline", json_object_new_int((int)(height - PAD_BOTTOM)));
	json_object_object_add(chart, "label_y", json_object_new_int((int)(height - 5)));
	json_object_object_add(chart, "max", json_object_new_int64(max));
	json_object_object_add(chart, "bars", bars);
	json_object_object_add(chart, "ticks", ticks);
	json_object_object_add(chart, "legend", legend);
	json_object_object_add(chart, "empty", json_object_new_boolean(max == 0));
	return chart;
}
