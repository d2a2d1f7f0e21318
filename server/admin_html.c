/*
 * admin_html.c - the dashboard page (see admin_html.h). The style and the
 * script are constant; the tables are written here from the status
 * document and rebuilt the same way by the script (data-k names the field
 * of each cell, which the tests read too).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gh.h"
#include "server/admin.h"
#include "server/admin_html.h"

#define DASH "\xe2\x80\x93"             /* an unknown figure */

static const char *const colors[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};

static const char page_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
    "header{display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}\n"
    "h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .3em}\n"
    "h2 small{color:#666;font-weight:normal}#live{color:#666}.bad{color:#b00}\n"
    "table{border-collapse:collapse;background:#fff}\n"
    "td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right;white-space:nowrap}\n"
    "th{background:#f0f0f0;font-weight:600}td.addr,th.addr{text-align:left}\n"
    "td.st{font-weight:600;text-align:center}.st-up{color:#070}.st-down{color:#b00}\n"
    ".st-draining{color:#a60}.tag{font-size:.85em;color:#666}\n"
    ".sw{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.4em}\n"
    "svg.chart{display:block;width:600px;max-width:100%;height:120px;background:#fff;"
    "border:1px solid #ddd}\n"
    "form{display:inline;margin:0}button{font:inherit;padding:0 .6em}[hidden]{display:none}\n"
    "footer{margin-top:2em;color:#666;font-size:.9em;max-width:50em}\n";

static const char page_script[] =
    "'use strict';\n"
    "(function () {\n"
    "  var COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',\n"
    "                '#7f7f7f', '#bcbd22', '#17becf'];\n"
    "  var COLUMNS = [['address', 'server'], ['state', 'state'], ['active', 'active'],\n"
    "                 ['requests', 'requests'], ['requests_per_s', 'req/s'],\n"
    "                 ['errors', 'errors'], ['error_rate', 'errors %'], ['p50_ms', 'p50 ms'],\n"
    "                 ['p99_ms', 'p99 ms'], ['action', '']];\n"
    "  var POINTS = 300, EVERY_MS = 1000, NS = 'http://www.w3.org/2000/svg';\n"
    "  var main = document.getElementById('ups'), live = document.getElementById('live');\n"
    "  var msg = document.getElementById('msg'), auth = document.getElementById('auth');\n"
    "  var token = '', hist = {}, rows = {}, charts = {}, shape = null, fetches = 0;\n"
    "  var timer = null, busy = false, soon = false;\n"
    "\n"
    "  function el(tag, attrs, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
    "    if (text !== undefined) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "  function svg(tag, attrs) {\n"
    "    var e = document.createElementNS(NS, tag);\n"
    "    for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
    "    return e;\n"
    "  }\n"
    "  function dash(v, d) { return v === null || v === undefined ? '\\u2013' : v.toFixed(d); }\n"
    "  function stateOf(s) { return s.state === 'drained' ? 'draining' : s.state; }\n"
    "  function key(u, s) { return u.name + '\\n' + s.address; }\n"
    "  function action(u, s) {\n"
    "    var act = s.state === 'drained' ? 'enable' : 'drain';\n"
    "    return [act, 'upstreams/' + encodeURIComponent(u.name) + '/servers/' +\n"
    "                 encodeURIComponent(s.address) + '/' + act];\n"
    "  }\n"
    "  function texts(s) {\n"
    "    return {\n"
    "      active: String(s.active), requests: String(s.requests),\n"
    "      requests_per_s: dash(s.requests_per_s, 1), errors: String(s.errors),\n"
    "      error_rate: s.error_rate === null ? '\\u2013'\n"
    "                                        : (100 * s.error_rate).toFixed(1) + ' %',\n"
    "      p50_ms: dash(s.p50_ms, 1), p99_ms: dash(s.p99_ms, 1)\n"
    "    };\n"
    "  }\n"
    "\n"
    "  /* The tables, built again only when the upstreams or servers change;\n"
    "   * otherwise updated in place, so a click is never lost to a redraw. */\n"
    "  function build(doc) {\n"
    "    rows = {};\n"
    "    charts = {};\n"
    "    while (main.firstChild) main.removeChild(main.firstChild);\n"
    "    doc.upstreams.forEach(function (u) {\n"
    "      var sec = el('section', { 'data-upstream': u.name });\n"
    "      var h = el('h2', {}, u.name + ' ');\n"
    "      var about = u.balance + (u.health_checks ? ', health checks' : '');\n"
    "      h.appendChild(el('small', {}, about));\n"
    "      sec.appendChild(h);\n"
    "      charts[u.name] = svg('svg', { 'class': 'chart', viewBox: '0 0 600 120',\n"
    "                                    'data-chart': u.name, role: 'img' });\n"
    "      sec.appendChild(charts[u.name]);\n"
    "      var table = el('table'), tr = el('tr');\n"
    "      COLUMNS.forEach(function (c) {\n"
    "        tr.appendChild(el('th', c[0] === 'address' ? { 'class': 'addr' } : {}, c[1]));\n"
    "      });\n"
    "      table.appendChild(el('thead')).appendChild(tr);\n"
    "      var body = table.appendChild(el('tbody'));\n"
    "      u.servers.forEach(function (s, i) {\n"
    "        var r = { cells: {} }, tr = el('tr', { 'data-server': s.address });\n"
    "        COLUMNS.forEach(function (c) {\n"
    "          var td = tr.appendChild(el('td', { 'data-k': c[0] }));\n"
    "          r.cells[c[0]] = td;\n"
    "        });\n"
    "        var a = r.cells.address;\n"
    "        a.className = 'addr';\n"
    "        var color = COLORS[i % COLORS.length];\n"
    "        a.appendChild(el('span', { 'class': 'sw', style: 'background:' + color }));\n"
    "        a.appendChild(document.createTextNode(s.address));\n"
    "        if (s.backup) a.appendChild(el('span', { 'class': 'tag' }, ' backup'));\n"
    "        r.form = el('form', { 'class': 'act', method: 'post' });\n"
    "        r.button = r.form.appendChild(el('button', { type: 'submit' }));\n"
    "        r.cells.action.appendChild(r.form);\n"
    "        r.tr = tr;\n"
    "        rows[key(u, s)] = r;\n"
    "        body.appendChild(tr);\n"
    "      });\n"
    "      sec.appendChild(table);\n"
    "      main.appendChild(sec);\n"
    "    });\n"
    "  }\n"
    "  function set(node, text) { if (node.textContent !== text) node.textContent = text; }\n"
    "  function update(doc) {\n"
    "    doc.upstreams.forEach(function (u) {\n"
    "      u.servers.forEach(function (s) {\n"
    "        var r = rows[key(u, s)], st = stateOf(s), t = texts(s), a = action(u, s);\n"
    "        r.tr.setAttribute('data-state', st);\n"
    "        set(r.cells.state, st);\n"
    "        r.cells.state.className = 'st st-' + st;\n"
    "        for (var k in t) set(r.cells[k], t[k]);\n"
    "        if (r.form.getAttribute('action') !== a[1]) r.form.setAttribute('action', a[1]);\n"
    "        set(r.button, a[0]);\n"
    "        r.button.setAttribute('data-act', a[0]);\n"
    "        var h = hist[key(u, s)] || (hist[key(u, s)] = []);\n"
    "        h.push(s.requests_per_s || 0);\n"
    "        if (h.length > POINTS) h.shift();\n"
    "      });\n"
    "      draw(charts[u.name], u);\n"
    "    });\n"
    "  }\n"
    "  /* requests/s of each server over the last POINTS fetches, newest right. */\n"
    "  function draw(c, u) {\n"
    "    while (c.firstChild) c.removeChild(c.firstChild);\n"
    "    var W = 600, H = 120, top = 16, max = 0;\n"
    "    u.servers.forEach(function (s) {\n"
    "      (hist[key(u, s)] || []).forEach(function (v) { if (v > max) max = v; });\n"
    "    });\n"
    "    var scale = 1, steps = [2, 2.5, 2], n = 0;\n"
    "    while (scale < max) scale *= steps[n++ % 3];\n"
    "    var title = svg('title', {});\n"
    "    title.textContent = 'requests/s of each server, last ' +\n"
    "                        (POINTS * EVERY_MS / 60000) + ' minutes';\n"
    "    c.appendChild(title);\n"
    "    c.appendChild(svg('line', { x1: 0, y1: top, x2: W, y2: top, stroke: '#eee' }));\n"
    "    var label = svg('text', { x: 4, y: 12, 'font-size': 11, fill: '#666' });\n"
    "    label.textContent = scale + ' req/s';\n"
    "    c.appendChild(label);\n"
    "    u.servers.forEach(function (s, i) {\n"
    "      var h = hist[key(u, s)] || [], pts = [];\n"
    "      h.forEach(function (v, j) {\n"
    "        var x = W - (h.length - 1 - j) * W / (POINTS - 1);\n"
    "        var y = H - 2 - v / scale * (H - top - 2);\n"
    "        pts.push(x.toFixed(1) + ',' + y.toFixed(1));\n"
    "      });\n"
    "      if (pts.length > 0)\n"
    "        c.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none',\n"
    "                                        'stroke-width': 1.5,\n"
    "                                        stroke: COLORS[i % COLORS.length] }));\n"
    "    });\n"
    "  }\n"
    "  function headers() { return token ? { Authorization: 'Bearer ' + token } : {}; }\n"
    "  function load() {\n"
    "    busy = true;\n"
    "    var ctl = new AbortController(), stop = setTimeout(function () { ctl.abort(); }, 5000);\n"
    "    fetch('status.json', { cache: 'no-store', headers: headers(), signal: ctl.signal })\n"
    "      .then(function (r) {\n"
    "        if (r.status === 401) {\n"
    "          auth.hidden = false;\n"
    "          throw new Error(token ? 'the token was refused'\n"
    "                                : 'the admin API needs its token');\n"
    "        }\n"
    "        if (!r.ok) throw new Error('status.json answered ' + r.status);\n"
    "        return r.json();\n"
    "      })\n"
    "      .then(function (doc) {\n"
    "        var s = JSON.stringify(doc.upstreams.map(function (u) {\n"
    "          return [u.name, u.servers.map(function (s) { return s.address; })];\n"
    "        }));\n"
    "        if (s !== shape) build(doc);\n"
    "        shape = s;\n"
    "        update(doc);\n"
    "        fetches++;\n"
    "        main.setAttribute('data-rendered', 'live');\n"
    "        main.setAttribute('data-fetches', String(fetches));\n"
    "        live.textContent = 'live, ' + new Date().toLocaleTimeString();\n"
    "        live.className = '';\n"
    "      })\n"
    "      .catch(function (e) {\n"
    "        live.textContent = 'not live: ' + e.message;\n"
    "        live.className = 'bad';\n"
    "      })\n"
    "      .then(function () {\n"
    "        clearTimeout(stop);\n"
    "        busy = false;\n"
    "        timer = setTimeout(load, soon ? 0 : EVERY_MS);\n"
    "        soon = false;\n"
    "      });\n"
    "  }\n"
    "  function now() {\n"
    "    if (busy) { soon = true; return; }\n"
    "    clearTimeout(timer);\n"
    "    load();\n"
    "  }\n"
    "  document.addEventListener('submit', function (e) {\n"
    "    var f = e.target;\n"
    "    if (f === auth) {\n"
    "      e.preventDefault();\n"
    "      token = document.getElementById('token').value.trim();\n"
    "      now();\n"
    "      return;\n"
    "    }\n"
    "    if (!f.classList.contains('act')) return;\n"
    "    e.preventDefault();\n"
    "    var b = f.querySelector('button');\n"
    "    b.disabled = true;\n"
    "    fetch(f.getAttribute('action'), { method: 'POST', headers: headers() })\n"
    "      .then(function (r) {\n"
    "        return r.json().then(function (j) {\n"
    "          if (!r.ok) throw new Error(j.reason || j.error);\n"
    "          msg.textContent = j.server + (j.drained ? ' is draining' : ' is enabled');\n"
    "          msg.className = '';\n"
    "        });\n"
    "      })\n"
    "      .catch(function (err) {\n"
    "        msg.textContent = 'failed: ' + err.message;\n"
    "        msg.className = 'bad';\n"
    "      })\n"
    "      .then(function () { b.disabled = false; now(); });\n"
    "  });\n"
    "  load();\n"
    "})();\n";

/* s as HTML text or attribute value (s is valid UTF-8: gh_aj_text). */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

/* s as one segment of a URL path: every byte but the unreserved ones
 * %-encoded, as the admin API decodes them (so nothing needs HTML escaping). */
static void put_segment(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

static const char *str_of(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s != NULL ? s : "";
}

/* The member as a number with `decimals` digits after the point (times
 * scale, then `unit`), or a dash when null or absent. */
static void put_num(FILE *f, const json_t *o, const char *name, int decimals, double scale,
                    const char *unit)
{
    const json_t *v = json_object_get(o, name);
    if (!json_is_number(v))
        fputs(DASH, f);
    else
        fprintf(f, "%.*f%s", decimals, json_number_value(v) * scale, unit);
}

static void put_server(FILE *f, const char *upstream, const json_t *s, size_t i)
{
    const char *state = str_of(s, "state");
    if (strcmp(state, "drained") == 0)
        state = "draining";
    bool drained = json_is_true(json_object_get(s, "drained"));
    fputs("<tr data-server=\"", f);
    put_text(f, str_of(s, "address"));
    fprintf(f, "\" data-state=\"%s\"><td data-k=\"address\" class=\"addr\"><span class=\"sw\" "
               "style=\"background:%s\"></span>", state, colors[i % GH_ARRAY_LEN(colors)]);
    put_text(f, str_of(s, "address"));
    if (json_is_true(json_object_get(s, "backup")))
        fputs("<span class=\"tag\"> backup</span>", f);
    fprintf(f, "</td><td data-k=\"state\" class=\"st st-%s\">%s</td>", state, state);
    fprintf(f, "<td data-k=\"active\">%lld</td>",
            (long long)json_integer_value(json_object_get(s, "active")));
    fprintf(f, "<td data-k=\"requests\">%lld</td><td data-k=\"requests_per_s\">",
            (long long)json_integer_value(json_object_get(s, "requests")));
    put_num(f, s, "requests_per_s", 1, 1, "");
    fprintf(f, "</td><td data-k=\"errors\">%lld</td><td data-k=\"error_rate\">",
            (long long)json_integer_value(json_object_get(s, "errors")));
    put_num(f, s, "error_rate", 1, 100, " %");
    fputs("</td><td data-k=\"p50_ms\">", f);
    put_num(f, s, "p50_ms", 1, 1, "");
    fputs("</td><td data-k=\"p99_ms\">", f);
    put_num(f, s, "p99_ms", 1, 1, "");
    const char *act = drained ? "enable" : "drain";
    fputs("</td><td data-k=\"action\"><form class=\"act\" method=\"post\" action=\"upstreams/", f);
    put_segment(f, upstream);
    fputs("/servers/", f);
    put_segment(f, str_of(s, "address"));
    fprintf(f, "/%s\"><button type=\"submit\" data-act=\"%s\">%s</button></form></td></tr>\n",
            act, act, act);
}

static void put_upstream(FILE *f, const json_t *u)
{
    const char *name = str_of(u, "name");
    fputs("<section data-upstream=\"", f);
    put_text(f, name);
    fputs("\"><h2>", f);
    put_text(f, name);
    fputs(" <small>", f);
    put_text(f, str_of(u, "balance"));
    if (json_is_true(json_object_get(u, "health_checks")))
        fputs(", health checks", f);
    fputs("</small></h2>\n<svg class=\"chart\" viewBox=\"0 0 600 120\" role=\"img\" data-chart=\"",
          f);
    put_text(f, name);
    fputs("\"><text x=\"4\" y=\"64\" font-size=\"12\" fill=\"#999\">requests/s of the last "
          "minutes: drawn by the page's script</text></svg>\n<table><thead><tr><th class=\"addr\">"
          "server</th><th>state</th><th>active</th><th>requests</th><th>req/s</th>"
          "<th>errors</th><th>errors %</th><th>p50 ms</th><th>p99 ms</th><th></th></tr></thead>"
          "<tbody>\n", f);
    const json_t *servers = json_object_get(u, "servers");
    for (size_t i = 0; i < json_array_size(servers); i++)
        put_server(f, name, json_array_get(servers, i), i);
    fputs("</tbody></table></section>\n", f);
}

char *gh_admin_html(const json_t *doc, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width\">\n"
               "<title>gatehouse status</title>\n<style>\n%s</style></head>\n<body>\n"
               "<header><h1>gatehouse</h1><span id=\"live\">%s</span>"
               "<span id=\"msg\" role=\"status\"></span></header>\n"
               "<form id=\"auth\"%s><label>admin token <input type=\"password\" id=\"token\" "
               "autocomplete=\"off\"></label> <button type=\"submit\">use</button></form>\n"
               "<main id=\"ups\" data-rendered=\"%s\">\n",
            page_style, doc != NULL ? "as of this page's load" : "",
            doc != NULL ? " hidden" : "", doc != NULL ? "server" : "none");
    if (doc == NULL)
        fputs("<p>The admin API needs its token (admin.token): type it above; the page then "
              "loads the status with it (this needs JavaScript).</p>\n", f);
    const json_t *ups = doc != NULL ? json_object_get(doc, "upstreams") : NULL;
    for (size_t u = 0; u < json_array_size(ups); u++)
        put_upstream(f, json_array_get(ups, u));
    if (doc != NULL && json_array_size(ups) == 0)
        fputs("<p>No upstreams are configured.</p>\n", f);
    fprintf(f, "</main>\n<footer>Requests and errors are counted since the server (or its "
               "slot) started; req/s, errors %% (errors over requests) are over the last 5 "
               "seconds, from samples the server takes every second; p50 and p99 are the time "
               "to the upstream's response head, estimated from latency buckets. With "
               "JavaScript the page refreshes from status.json every second and keeps the "
               "last 5 minutes of requests/s for the charts.</footer>\n"
               "<script>\n%s</script>\n</body></html>\n", page_script);
    return gh_admin_finish(f, &buf);
}
