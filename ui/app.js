/*
 * hush dashboard: a client of hushd's public REST API and nothing more.
 * Every number on the page comes from a GET anyone may make (the same
 * documents curl gets); the admin token, when an operator enters one, is
 * kept in this closure only and sent only with the admin actions.  Texts
 * from the API (candidate texts, names) are inserted as text, never as
 * markup.  Charts are plain SVG; no library, no network beyond hushd.
 */
'use strict';
(function () {
  const REFRESH_MS = 5000;
  const COLORS = ['#1f6feb', '#d97706', '#16a34a', '#9333ea', '#dc2626', '#0891b2'];
  const S = {
    token: null,           /* the admin token: memory only */
    cache: new Map(),      /* path -> {etag, data}: conditional GETs */
    sel: {},               /* campaign id -> {round, top} chosen on the page */
    pubs: {},              /* campaign id -> {round, candidates}: refetched per round */
    ops: { prev: null, rates: [], p99: [] },
    busy: false,
    timer: null,
    notice: null,
    unchanged: 0,          /* answers that were 304: reused */
  };

  /* ---- DOM ---- */

  function put(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    return put(e, kids);
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    return put(e, kids);
  }

  /* ---- numbers ---- */

  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (typeof v !== 'number') return String(v);
    if (digits === undefined) {
      if (Number.isInteger(v)) return v.toLocaleString('en-US');
      const a = Math.abs(v);
      digits = a >= 100 ? 1 : a >= 1 ? 3 : 4;
      return a !== 0 && a < 1e-3 ? v.toExponential(2) : v.toLocaleString('en-US', {
        minimumFractionDigits: digits > 1 ? 2 : digits, maximumFractionDigits: digits });
    }
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function when(t) {
    if (!t) return '–';
    return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function clip(text, n) {
    return text.length > n ? text.slice(0, n - 1) + '…' : text;
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function failure(r) {
    let code = 'http_' + r.status, message = r.statusText || 'request failed';
    try {
      const doc = await r.json();
      if (doc && doc.error) ({ code, message } = doc.error);
    } catch (e) { /* not JSON: keep the status */ }
    return new ApiError(r.status, code, message);
  }

  /* A GET, conditional when an earlier answer had an ETag: a 304 reuses it. */
  async function get(path, text) {
    const hit = S.cache.get(path);
    const headers = { Accept: text ? 'text/plain' : 'application/json' };
    if (hit) headers['If-None-Match'] = hit.etag;
    const r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    if (r.status === 304 && hit) {
      S.unchanged++; /* the collector computed nothing: the ETag matched */
      document.body.dataset.unchanged = String(S.unchanged);
      return hit.data;
    }
    if (!r.ok) throw await failure(r);
    const data = text ? await r.text() : await r.json();
    const etag = r.headers.get('ETag');
    if (etag) S.cache.set(path, { etag, data });
    return data;
  }

  async function post(path, body) {
    if (!S.token) throw new ApiError(401, 'unauthorized', 'enter the admin token first');
    const init = {
      method: 'POST', cache: 'no-store', credentials: 'omit',
      headers: { Authorization: 'Bearer ' + S.token },
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (!r.ok) throw await failure(r);
    return r.json();
  }

  const enc = encodeURIComponent;

  /* ---- charts ---- */

  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  function tickLabel(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    return Number.isInteger(v) ? String(v) : String(+v.toPrecision(3));
  }

  /* Horizontal bars with 95% CI whiskers; significant items filled. */
  function barChart(items, label) {
    /* drawn for the width it gets, so that a phone's labels stay legible */
    const room = document.getElementById('main').clientWidth - 40;
    const W = Math.max(320, Math.min(640, room)), L = Math.round(W * 0.34), R = 16;
    const row = 24, top = 8, H = top + row * items.length + 28, chars = Math.floor(L / 6.6);
    let lo = 0, hi = 0;
    for (const it of items) {
      lo = Math.min(lo, it.value, it.lo ?? it.value);
      hi = Math.max(hi, it.value, it.hi ?? it.value);
    }
    if (hi === lo) hi = lo + 1;
    const x = (v) => L + (v - lo) / (hi - lo) * (W - L - R);
    const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
    const base = top + row * items.length;
    for (const t of ticks(lo, hi, 5)) {
      g.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: top, y2: base }),
        s('text', { x: x(t), y: base + 16, 'text-anchor': 'middle' }, tickLabel(t)));
    }
    items.forEach((it, i) => {
      const y = top + i * row, mid = y + row / 2;
      const x0 = x(Math.min(0, it.value)), x1 = x(Math.max(0, it.value));
      g.append(
        s('text', { x: L - 6, y: mid + 4, 'text-anchor': 'end' }, clip(it.label, chars),
          s('title', {}, it.label)),
        s('rect', { class: 'bar' + (it.sig ? ' sig' : ''), x: x0, y: y + 4, width: Math.max(1, x1 - x0),
          height: row - 8 }, s('title', {}, `${it.label}: ${num(it.value)}`)));
      if (it.lo !== undefined && it.hi !== undefined) {
        g.append(s('line', { class: 'err', x1: x(it.lo), x2: x(it.hi), y1: mid, y2: mid }),
          s('line', { class: 'err', x1: x(it.lo), x2: x(it.lo), y1: mid - 5, y2: mid + 5 }),
          s('line', { class: 'err', x1: x(it.hi), x2: x(it.hi), y1: mid - 5, y2: mid + 5 }));
      }
    });
    g.append(s('line', { class: 'axis', x1: x(0), x2: x(0), y1: top, y2: base }));
    return g;
  }

  /* Lines over rounds (or time); an optional dashed level (a budget). */
  function lineChart(series, opt) {
    const W = 420, H = 230, L = 52, R = 14, T = 24, B = 30;
    const pts = series.flatMap((sr) => sr.points);
    const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opt.title });
    g.append(s('text', { x: L, y: 14, 'font-weight': 600 }, opt.title));
    if (pts.length === 0) {
      g.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, opt.empty || 'no data yet'));
      return g;
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (opt.level !== undefined) { y0 = Math.min(y0, opt.level); y1 = Math.max(y1, opt.level); }
    if (opt.zero !== false) y0 = Math.min(0, y0);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y1 = y0 + (Math.abs(y0) || 1); }
    y1 += (y1 - y0) * 0.05;
    const x = (v) => L + (v - x0) / (x1 - x0) * (W - L - R);
    const y = (v) => H - B - (v - y0) / (y1 - y0) * (H - T - B);
    for (const t of ticks(y0, y1, 4)) {
      g.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(t), y2: y(t) }),
        s('text', { x: L - 6, y: y(t) + 4, 'text-anchor': 'end' }, tickLabel(t)));
    }
    const xt = opt.integerX ? ticks(x0, x1, Math.min(8, Math.max(1, x1 - x0))).filter(Number.isInteger) : ticks(x0, x1, 5);
    for (const t of xt) {
      g.append(s('text', { x: x(t), y: H - B + 16, 'text-anchor': 'middle' }, opt.xFormat ? opt.xFormat(t) : tickLabel(t)));
    }
    g.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
      s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
    if (opt.level !== undefined) {
      g.append(s('line', { class: 'budget', x1: L, x2: W - R, y1: y(opt.level), y2: y(opt.level) }),
        s('text', { x: W - R, y: y(opt.level) - 4, 'text-anchor': 'end' }, opt.levelLabel || ''));
    }
    series.forEach((sr, i) => {
      const color = sr.color || COLORS[i % COLORS.length];
      if (sr.points.length > 1) {
        g.append(s('polyline', { class: 'line', stroke: color,
          points: sr.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ') }));
      }
      for (const p of sr.points) {
        g.append(s('circle', { cx: x(p[0]), cy: y(p[1]), r: 3, fill: color },
          s('title', {}, `${sr.name}: ${num(p[1])} (${opt.xName || 'round'} ${opt.xFormat ? opt.xFormat(p[0]) : p[0]})`)));
      }
    });
    return g;
  }

  function legend(series) {
    return h('div', { class: 'legend' }, series.map((sr, i) => {
      const sp = h('span', {}, sr.name);
      /* through the CSSOM: the CSP allows no style attributes */
      sp.style.setProperty('--swatch', sr.color || COLORS[i % COLORS.length]);
      return sp;
    }));
  }

  function chartBox(series, opt) {
    const box = h('figure', { class: 'chart-box', 'data-chart': opt.id || null }, lineChart(series, opt));
    if (series.length > 1) box.append(legend(series));
    return box;
  }

  /* ---- pieces ---- */

  function facts(pairs) {
    return h('dl', { class: 'facts' }, pairs.filter((p) => p).map(([k, v]) =>
      h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  }

  function table(head, rows, attrs) {
    return h('div', { class: 'scroll' }, h('table', attrs || {},
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { class: c.num ? 'num' : null }, c.label || c)))),
      h('tbody', {}, rows)));
  }

  function panel(title, ...kids) {
    return h('section', { class: 'panel' }, title ? h('h3', {}, title) : null, kids);
  }

  function adminButton(label, confirmText, action, danger) {
    if (!S.token) return null;
    return h('button', { type: 'button', class: danger ? 'danger' : null, onclick: async (ev) => {
      if (!window.confirm(confirmText)) return;
      ev.target.disabled = true;
      try {
        const out = await action();
        S.notice = { ok: true, text: label + ': ' + JSON.stringify(out) };
      } catch (e) {
        S.notice = { ok: false, text: label + ' refused: ' + e.message };
      }
      S.cache.clear();
      render();
    } }, label);
  }

  /* ---- views ---- */

  async function campaignsView() {
    const list = await get('/v1/campaigns?state=all');
    const rows = await Promise.all(list.campaigns.map(async (c) => {
      let n = null;
      try {
        n = (await get(`/v1/campaigns/${enc(c.id)}/estimates?top=1`)).n_reports;
      } catch (e) { /* estimates may be admin-only: the column says so */ }
      const b = c.budget || {};
      return h('tr', { 'data-campaign': c.id },
        h('td', {}, h('a', { href: '#/campaign/' + enc(c.id) }, c.name), h('br'), h('code', {}, c.id)),
        h('td', {}, c.kind), h('td', {}, c.mechanism),
        h('td', { class: 'num' }, num(c.epsilon)), h('td', { class: 'num' }, num(c.round)),
        h('td', { class: 'num' }, n === null ? '–' : num(n)),
        h('td', {}, c.state),
        h('td', {}, `${num(b.reports_per_device_per_day)} report(s), ε ${num(b.epsilon_per_device_per_day)} per device per day; estimates from ${num(c.min_reports)} reports`));
    }));
    return [h('h2', {}, 'Campaigns'),
      list.campaigns.length === 0 ? h('p', { class: 'note' }, 'No campaigns yet.') :
        panel(null, table(['campaign', 'kind', 'mechanism', { label: 'ε per report', num: 1 },
          { label: 'round', num: 1 }, { label: 'reports (open round)', num: 1 }, 'state', 'budget rules'],
          rows, { id: 'campaigns-table' })),
      h('p', { class: 'note' }, 'Local differential privacy: each device randomizes its own report with the ε shown before it leaves the device; the collector never sees a true value.')];
  }

  async function campaignView(id) {
    const [list, hist] = await Promise.all([get('/v1/campaigns?state=all'),
      get(`/v1/campaigns/${enc(id)}/rounds`)]);
    const c = list.campaigns.find((x) => x.id === id);
    if (!c) throw new ApiError(404, 'unknown_campaign', 'no such campaign: ' + id);
    const sel = S.sel[id] || (S.sel[id] = { round: 0, top: 20 });
    const closed = hist.rounds.filter((r) => r.closed_at !== null).map((r) => r.round);
    if (sel.round !== 0 && sel.round !== hist.round && !closed.includes(sel.round)) sel.round = 0;
    /* a top beyond the round's candidates is refused: ask for what there is */
    const d = c.kind === 'synthetic' ? c.candidates + 1 : c.candidates;
    const q = `top=${Math.min(sel.top, d)}` + (sel.round ? `&round=${sel.round}` : '');
    let est;
    try {
      est = await get(`/v1/campaigns/${enc(id)}/estimates?${q}`);
    } catch (e) {
      if (e.status !== 400 || e.code !== 'invalid_top') throw e;
      est = await get(`/v1/campaigns/${enc(id)}/estimates` + (sel.round ? `?round=${sel.round}` : ''));
    }
    const out = [h('h2', {}, c.name, ' ', h('code', {}, c.id)),
      panel(null, facts([['kind', c.kind], ['mechanism', c.mechanism], ['ε per report', num(c.epsilon)],
        ['round', num(hist.round)], ['reports (open round)', num(hist.rounds.at(-1)?.n_reports)],
        ['state', c.state],
        ['budget rules', `${num(c.budget?.reports_per_device_per_day)} report(s) and ε ${num(c.budget?.epsilon_per_device_per_day)} per device per day`],
        ['estimates shown from', `${num(c.min_reports)} reports`],
        ['created', when(c.created_at)], c.ended_at ? ['ended', when(c.ended_at)] : null]),
      h('div', { class: 'controls' },
        c.kind === 'synthetic' && c.state === 'active'
          ? adminButton(`Close round ${hist.round}`, `Close round ${hist.round} of ${id}? The next round is published at once.`,
            () => post(`/v1/campaigns/${enc(id)}/rounds`, { round: hist.round }), false) : null,
        c.state === 'active' ? adminButton('End campaign', `End ${id}? It takes no more reports.`,
          () => post(`/v1/campaigns/${enc(id)}/end`), true) : null))];
    out.push(estimatesPanel(id, est, sel, hist.round, closed));
    if (c.kind === 'synthetic') out.push(...await roundsPanels(id, hist));
    return out;
  }

  function estimatesPanel(id, est, sel, current, closed) {
    const roundSel = h('select', { id: 'round-select', 'aria-label': 'round', onchange: (ev) => {
      sel.round = Number(ev.target.value) === current ? 0 : Number(ev.target.value);
      render();
    } }, [current, ...closed.slice().reverse()].map((r) =>
      h('option', { value: r, selected: (sel.round || current) === r }, r === current ? `${r} (open)` : `${r} (closed, frozen)`)));
    const topSel = h('select', { id: 'top-select', 'aria-label': 'how many', onchange: (ev) => {
      sel.top = Number(ev.target.value);
      render();
    } }, [10, 20, 50, 100].map((k) => h('option', { value: k, selected: sel.top === k }, 'top ' + k)));
    const csv = `/v1/campaigns/${enc(id)}/estimates?format=csv&top=${est.top || sel.top}` + (sel.round ? `&round=${sel.round}` : '');
    const kids = [h('div', { class: 'controls' }, h('label', { for: 'round-select' }, 'Round'), roundSel, topSel,
      h('a', { href: csv, download: `${id}-round-${est.round}.csv` }, 'CSV'))];
    kids.push(facts([['round', num(est.round)], ['reports', num(est.n_reports)], ['ε', num(est.epsilon)],
      ['mechanism', est.mechanism], ['candidates', num(est.candidates)]]));
    if (est.withheld) {
      kids.push(h('p', { class: 'warn', id: 'withheld' }, `Withheld: ${est.reason}. `,
        'Below min_reports an estimate would say more about the few devices that reported than about the population; the collector shows none.'));
      return panel('Popular items', kids);
    }
    const items = est.items.map((it) => ({ label: it.candidate_id === 'none' ? '(no match)' : it.text || it.candidate_id,
      value: it.estimate, lo: it.ci95[0], hi: it.ci95[1], sig: it.significant === true }));
    kids.push(h('div', { id: 'estimates-chart' }, barChart(items, 'estimated reports with 95% confidence intervals')));
    kids.push(h('p', { class: 'note' }, 'Bars: estimated number of reports; whiskers: 95% confidence interval (',
      est.ci_method, '). Filled bars are significant: ', est.significance?.claim || '', '.'));
    const rows = est.items.map((it, i) => h('tr', { 'data-candidate': it.candidate_id },
      h('td', { class: 'num' }, i + 1), h('td', {}, h('code', {}, it.candidate_id)),
      h('td', { class: 'text' }, it.candidate_id === 'none' ? '(no match)' : it.text),
      h('td', { class: 'num', 'data-value': it.estimate }, num(it.estimate, 1)),
      h('td', { class: 'num', 'data-value': it.std_error }, num(it.std_error, 1)),
      h('td', { class: 'num', 'data-lo': it.ci95[0], 'data-hi': it.ci95[1] }, `${num(it.ci95[0], 1)} – ${num(it.ci95[1], 1)}`),
      h('td', { class: 'num', 'data-value': it.frequency }, num(it.frequency, 4)),
      h('td', {}, it.significant === null ? '–' : it.significant ? 'yes' : 'no')));
    kids.push(table(['#', 'candidate', 'text', { label: 'estimate', num: 1 }, { label: 'std. error', num: 1 },
      { label: '95% CI', num: 1 }, { label: 'frequency', num: 1 }, 'significant'], rows,
    { id: 'estimates-table', 'data-round': est.round, 'data-n-reports': est.n_reports }));
    return panel('Popular items', kids);
  }

  async function roundsPanels(id, hist) {
    let pub = S.pubs[id];
    if (!pub || pub.round !== hist.round) {
      const doc = await get(`/v1/campaigns/${enc(id)}`);
      pub = S.pubs[id] = { round: doc.round, candidates: doc.candidates || [] };
    }
    const done = hist.rounds.filter((r) => r.closed_at !== null);
    const keys = [];
    for (const r of done) {
      for (const [k, v] of Object.entries(r.metrics || {})) if (typeof v === 'number' && !keys.includes(k)) keys.push(k);
    }
    const charts = keys.map((k) => chartBox([{ name: k, points: done.filter((r) => typeof r.metrics?.[k] === 'number').map((r) => [r.round, r.metrics[k]]) }],
      { title: k + ' by round', integerX: true, zero: false, id: 'metric-' + k }));
    charts.push(chartBox([
      { name: 'kept', points: done.filter((r) => r.kept !== undefined).map((r) => [r.round, r.kept]) },
      { name: 'generated', points: done.filter((r) => r.generated !== undefined).map((r) => [r.round, r.generated]) }],
    { title: 'kept and generated samples', integerX: true, id: 'kept' }));
    charts.push(chartBox([{ name: 'reports', points: hist.rounds.filter((r) => r.n_reports !== undefined).map((r) => [r.round, r.n_reports]) }],
      { title: 'reports per round', integerX: true, id: 'reports' }));
    const rows = hist.rounds.slice().reverse().map((r) => h('tr', {},
      h('td', { class: 'num' }, r.round), h('td', {}, when(r.opened_at)), h('td', {}, r.closed_at ? when(r.closed_at) : 'open'),
      h('td', { class: 'num' }, num(r.n_reports)), h('td', { class: 'num' }, num(r.kept)), h('td', { class: 'num' }, num(r.generated)),
      h('td', {}, Object.entries(r.metrics || {}).map(([k, v]) => `${k} ${num(v)}`).join(', ') || '–')));
    const sample = pub.candidates.slice(0, 10);
    return [
      panel('Rounds', keys.length === 0 ? h('p', { class: 'note' }, 'No quality figures recorded yet: closing a round with "metrics" (a simulation\'s fidelity and coverage) stores them here.') : null,
        h('div', { class: 'charts', id: 'rounds-charts' }, charts),
        h('p', { class: 'note' }, 'Quality figures are what the closer of each round measured (hush-sim measures them in a space the loop does not optimize, beside controls with no signal); the collector stores them and does not compute them.'),
        table([{ label: 'round', num: 1 }, 'opened', 'closed', { label: 'reports', num: 1 }, { label: 'kept', num: 1 },
          { label: 'generated', num: 1 }, 'metrics'], rows, { id: 'rounds-table' }),
        h('a', { href: `/v1/campaigns/${enc(id)}/rounds?format=csv`, download: `${id}-rounds.csv` }, 'CSV')),
      panel(`Synthetic samples of round ${pub.round} (${num(pub.candidates.length)}; public: the collector publishes them)`,
        h('ol', { class: 'samples', id: 'samples' }, sample.map((c) => h('li', {}, h('code', {}, c.id), ' ', clip(c.text, 400)))),
        pub.candidates.length > sample.length ? h('p', { class: 'note' }, `and ${num(pub.candidates.length - sample.length)} more in the publication`) : null),
    ];
  }

  async function modelsView() {
    const list = await get('/v1/models');
    const rows = list.models.map((m) => h('tr', { 'data-model': m.id },
      h('td', {}, h('a', { href: '#/model/' + enc(m.id) }, m.name), h('br'), h('code', {}, m.id)),
      h('td', { class: 'num' }, num(m.round)), h('td', { class: 'num' }, num(m.rounds_completed)), h('td', {}, m.state),
      h('td', { class: 'num' }, num(m.epsilon_spent)), h('td', { class: 'num' }, num(m.noise_multiplier)),
      h('td', { class: 'num' }, num(m.sampling_rate)), h('td', { class: 'num' }, num(m.parameters))));
    return [h('h2', {}, 'Federated tasks'),
      list.models.length === 0 ? h('p', { class: 'note' }, 'No federated tasks yet.') :
        panel(null, table(['task', { label: 'round', num: 1 }, { label: 'rounds done', num: 1 }, 'state',
          { label: 'ε spent', num: 1 }, { label: 'noise multiplier', num: 1 }, { label: 'sampling rate', num: 1 },
          { label: 'parameters', num: 1 }], rows, { id: 'models-table' }))];
  }

  async function modelView(id) {
    const [list, priv, hist] = await Promise.all([get('/v1/models'), get(`/v1/models/${enc(id)}/privacy`),
      get(`/v1/models/${enc(id)}/rounds`)]);
    const m = list.models.find((x) => x.id === id);
    if (!m) throw new ApiError(404, 'unknown_model', 'no such task: ' + id);
    const rs = hist.rounds;
    const mkeys = []; /* what an evaluator recorded: accuracy first */
    for (const r of rs) {
      for (const [k, v] of Object.entries(r.metrics || {})) if (typeof v === 'number' && !mkeys.includes(k)) mkeys.push(k);
    }
    mkeys.sort((a, b) => (b === 'accuracy') - (a === 'accuracy'));
    const target = priv.target_epsilon;
    const charts = [
      chartBox([{ name: 'ε spent', points: rs.filter((r) => typeof r.epsilon === 'number').map((r) => [r.round, r.epsilon]) }],
        { title: 'ε spent by round' + (target ? ' (dashed: the budget)' : ''), integerX: true, level: target, levelLabel: target ? `budget ε ${num(target)}` : '', id: 'epsilon',
          empty: priv.dp === 'none' ? 'no central DP on this task' : 'no round closed yet' }),
      chartBox([{ name: 'clip norm', points: rs.map((r) => [r.round, r.clip_norm]) }],
        { title: 'clip norm by round', integerX: true, id: 'clip' }),
      chartBox([{ name: 'updates', points: rs.map((r) => [r.round, r.updates]) }],
        { title: 'participation: updates per round', integerX: true, id: 'updates' }),
    ];
    for (const k of mkeys) {
      charts.push(chartBox([{ name: k, points: rs.filter((r) => typeof r.metrics?.[k] === 'number').map((r) => [r.round, r.metrics[k]]) }],
        { title: `${k} by round (reported)`, integerX: true, zero: false, id: 'metric-' + k }));
    }
    const rows = rs.slice().reverse().map((r) => h('tr', {}, h('td', { class: 'num' }, r.round),
      h('td', { class: 'num' }, num(r.updates)), h('td', { class: 'num' }, num(r.clip_norm)),
      h('td', { class: 'num' }, num(r.epsilon)), h('td', {}, when(r.closed_at)),
      h('td', {}, Object.entries(r.metrics || {}).map(([k, v]) => `${k} ${num(v)}`).join(', ') || '–')));
    return [h('h2', {}, m.name, ' ', h('code', {}, m.id)),
      panel(null, facts([['state', m.state], ['round', num(m.round)], ['rounds done', num(m.rounds_completed)],
        ['guarantee', priv.guarantee || priv.dp], ['accountant', priv.accountant],
        ['ε spent', num(priv.epsilon)], target ? ['ε budget', num(target)] : null, priv.delta ? ['δ', num(priv.delta)] : null,
        ['noise multiplier', num(priv.noise_multiplier)], ['sampling rate', num(priv.sampling_rate)],
        priv.max_rounds ? ['max rounds', num(priv.max_rounds)] : null, ['parameters', num(m.parameters)]]),
      h('div', { class: 'controls' }, m.state === 'running' ? adminButton('Close round', `Close round ${m.round} of ${id}?`,
        () => post(`/v1/models/${enc(id)}/rounds`), false) : null)),
      panel('Rounds', h('div', { class: 'charts', id: 'model-charts' }, charts),
        h('p', { class: 'note' }, mkeys.includes('accuracy')
          ? 'Accuracy is what an evaluator of the operator\'s measured on data of its own and recorded; the collector never sees the devices\' data and does not compute it.'
          : 'No accuracy reported: the collector never sees the devices\' data; an evaluator that tests the published model on data of its own can record it (POST /v1/models/{id}/metrics).'),
        table([{ label: 'round', num: 1 }, { label: 'updates', num: 1 }, { label: 'clip norm', num: 1 },
          { label: 'ε after the round', num: 1 }, 'closed', 'reported metrics'], rows, { id: 'model-rounds-table' }),
        h('a', { href: `/v1/models/${enc(id)}/rounds?format=csv`, download: `${id}-rounds.csv` }, 'CSV'))];
  }

  /* /metrics, the Prometheus text format: name{labels} value. */
  function parseMetrics(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      out.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return out;
  }

  function sum(ms, name, pred) {
    return ms.filter((x) => x.name === name && (!pred || pred(x.labels))).reduce((a, x) => a + x.value, 0);
  }

  /* A quantile from cumulative buckets (linear inside a bucket). */
  function quantile(buckets, q) {
    const total = buckets.length ? buckets[buckets.length - 1].count : 0;
    if (total <= 0) return null;
    const rank = q * total;
    let prevLe = 0, prevCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (!Number.isFinite(b.le)) return prevLe;
        return prevLe + (b.le - prevLe) * (b.count > prevCount ? (rank - prevCount) / (b.count - prevCount) : 0);
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return prevLe;
  }

  function histogram(ms, name) {
    return ms.filter((x) => x.name === name + '_bucket').map((x) => ({ le: x.labels.le === '+Inf' ? Infinity : Number(x.labels.le), count: x.value }))
      .sort((a, b) => a.le - b.le);
  }

  async function sample() {
    const text = await get('/metrics', true);
    return { t: performance.now() / 1000, ms: parseMetrics(text) };
  }

  async function opsView() {
    const o = S.ops;
    let cur = await sample();
    if (!o.prev) { /* a rate needs two samples */
      o.prev = cur;
      await new Promise((r) => setTimeout(r, 1000));
      cur = await sample();
    }
    const prev = o.prev, dt = cur.t - prev.t, ms = cur.ms;
    const reports = sum(ms, 'hush_reports_accepted_total'), batches = sum(ms, 'hush_batches_accepted_total');
    const rate = dt > 0 ? Math.max(0, reports - sum(prev.ms, 'hush_reports_accepted_total')) / dt : 0;
    const buckets = histogram(ms, 'hush_commit_duration_seconds');
    const before = histogram(prev.ms, 'hush_commit_duration_seconds');
    const delta = buckets.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count || 0) }));
    const recent = delta.length && delta[delta.length - 1].count > 0 ? delta : buckets;
    const p50 = quantile(recent, 0.5), p99 = quantile(recent, 0.99);
    const count = sum(ms, 'hush_commit_duration_seconds_count'), total = sum(ms, 'hush_commit_duration_seconds_sum');
    const now = Date.now() / 1000;
    o.rates.push([now, rate]);
    if (p99 !== null) o.p99.push([now, p99 * 1000]);
    o.rates = o.rates.slice(-60);
    o.p99 = o.p99.slice(-60);
    o.prev = cur;
    const clock = (t) => new Date(t * 1000).toISOString().slice(11, 19);
    const reasons = ms.filter((x) => x.name === 'hush_batches_rejected_total');
    const rejected = reasons.map((x) => ({ label: x.labels.reason, value: x.value, sig: x.value > 0 }));
    const routes = ms.filter((x) => x.name === 'hush_http_requests_total' && x.value > 0).sort((a, b) => b.value - a.value).slice(0, 12);
    const start = sum(ms, 'process_start_time_seconds');
    return [h('h2', {}, 'Operations'),
      panel(null, facts([['reports accepted', num(reports)], ['batches accepted', num(batches)],
        ['ingest rate (last interval)', `${num(rate, 1)} reports/s`],
        ['commit latency p50 / p99', p50 === null ? '–' : `${num(p50 * 1000, 2)} / ${num(p99 * 1000, 2)} ms`],
        ['commit latency mean (all time)', count > 0 ? `${num(total / count * 1000, 2)} ms over ${num(count)} commits` : '–'],
        ['batches rejected', num(sum(ms, 'hush_batches_rejected_total'))],
        ['resident memory', `${num(sum(ms, 'process_resident_memory_bytes') / 1048576, 1)} MiB`],
        ['up since', start ? when(start) : '–']])),
      panel('Ingest and commits', h('div', { class: 'charts', id: 'ops-charts' },
        chartBox([{ name: 'reports/s', points: o.rates }], { title: 'reports accepted per second', xFormat: clock, xName: 'time', id: 'rate' }),
        chartBox([{ name: 'p99 ms', points: o.p99 }], { title: 'commit latency p99 (ms)', xFormat: clock, xName: 'time', id: 'commit',
          empty: 'no commit yet' })),
      h('p', { class: 'note' }, 'From the counters GET /metrics serves, sampled by this page every refresh; the quantiles are interpolated inside the histogram\'s buckets.')),
      panel('Rejected batches by reason', h('div', { id: 'rejected-chart' }, barChart(rejected, 'rejected batches by reason')),
        table(['reason', { label: 'batches', num: 1 }, { label: 'reports', num: 1 }], reasons.map((x) => h('tr', {},
          h('td', {}, x.labels.reason), h('td', { class: 'num' }, num(x.value)),
          h('td', { class: 'num' }, num(sum(ms, 'hush_reports_rejected_total', (l) => l.reason === x.labels.reason))))))),
      panel('Requests by route', table(['method', 'route', 'status', { label: 'requests', num: 1 }],
        routes.map((x) => h('tr', {}, h('td', {}, x.labels.method), h('td', {}, h('code', {}, x.labels.route)),
          h('td', {}, x.labels.status || x.labels.code || ''), h('td', { class: 'num' }, num(x.value)))))),
    ];
  }

  /* ---- routing and refresh ---- */

  function current() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
    if (parts[0] === 'campaign' && parts[1]) return { nav: 'campaigns', view: () => campaignView(parts[1]) };
    if (parts[0] === 'models') return { nav: 'models', view: modelsView };
    if (parts[0] === 'model' && parts[1]) return { nav: 'models', view: () => modelView(parts[1]) };
    if (parts[0] === 'ops') return { nav: 'ops', view: opsView };
    return { nav: 'campaigns', view: campaignsView };
  }

  async function render() {
    if (S.busy) return;
    S.busy = true;
    const main = document.getElementById('main'), status = document.getElementById('status');
    const { nav, view } = current();
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === nav);
    try {
      const kids = await view();
      const y = window.scrollY;
      const notice = S.notice ? h('p', { class: S.notice.ok ? 'ok' : 'error', id: 'notice' }, S.notice.text) : null;
      main.replaceChildren(put(document.createDocumentFragment(), [notice, kids]));
      window.scrollTo(0, y);
      status.textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC' +
        (S.unchanged ? ` · ${S.unchanged} answers unchanged (304)` : '');
      document.body.dataset.ready = '1';
    } catch (e) {
      main.replaceChildren(h('p', { class: 'error', id: 'error' }, e instanceof ApiError ? `${e.message} (${e.code}, HTTP ${e.status})` : String(e)));
      status.textContent = 'error at ' + new Date().toISOString().slice(11, 19) + ' UTC';
      document.body.dataset.ready = '1';
    } finally {
      S.busy = false;
    }
  }

  function schedule() {
    clearInterval(S.timer);
    S.timer = document.getElementById('auto').checked ? setInterval(render, REFRESH_MS) : null;
  }

  function start() {
    const form = document.getElementById('admin-form'), input = document.getElementById('admin-token');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      S.token = input.value.trim() || null;
      input.value = '';
      input.placeholder = S.token ? 'token entered (memory only)' : 'paste the bearer token';
      render();
    });
    document.getElementById('admin-forget').addEventListener('click', () => {
      S.token = null;
      input.value = '';
      input.placeholder = 'paste the bearer token';
      render();
    });
    document.getElementById('auto').addEventListener('change', schedule);
    window.addEventListener('hashchange', () => { S.notice = null; window.scrollTo(0, 0); render(); });
    render();
    schedule();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
