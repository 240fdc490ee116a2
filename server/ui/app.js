/*
 * app.js - the ramp dashboard: plain JavaScript, served by rampd from
 * files compiled into the binary (no CDN, no inline script, so it runs under
 * a Content-Security-Policy without 'unsafe-inline').
 *
 * Routes live in the URL fragment (#/rollouts, #/rollouts/7, #/fleet); the
 * bearer token lives in sessionStorage only, never in a URL. Pages refresh
 * by short polling (every 2 s) and re-render only what changed. Every DOM
 * node is built with textContent, never innerHTML, so server data cannot
 * inject markup.
 */
'use strict';

const POLL_MS = 2000;
const TOKEN_KEY = 'ramp.token';
const OPERATE = ['admin', 'operator'];
const ACTIVE = ['progressing', 'paused', 'awaiting_approval'];

const state = { token: sessionStorage.getItem(TOKEN_KEY), who: null, timer: null, view: null };

/* ---------- small DOM helpers ---------- */

function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'class') el.className = v;
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else el.setAttribute(k, v === true ? '' : v);
	}
	append(el, kids);
	return el;
}

function append(el, kids) {
	for (const k of kids.flat(Infinity)) {
		if (k === null || k === undefined || k === false) continue;
		el.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return el;
}

function svg(tag, attrs, ...kids) {
	const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
	for (const [k, v] of Object.entries(attrs || {}))
		if (v !== null && v !== undefined) el.setAttribute(k, v);
	for (const k of kids.flat())
		el.append(k instanceof Node ? k : document.createTextNode(String(k)));
	return el;
}

function replace(el, ...kids) {
	el.replaceChildren();
	return append(el, kids);
}

const $ = (sel) => document.querySelector(sel);

/* ---------- formatting ---------- */

const RATIO = ['error_rate', 'install_failure_rate'];
const MILLIS = ['inference_latency_p50', 'inference_latency_p95', 'inference_latency_p99',
	'model_load_time_ms'];

const SUFFIX = { cpu_pct: '%', mem_pct: '%', npu_pct: '%', temperature_c: ' °C', disk_free_mb: ' MB',
	requests_per_second: '/s' };
const TITLES = { error_rate: 'Error rate', inference_latency_p50: 'Latency p50',
	inference_latency_p95: 'Latency p95', inference_latency_p99: 'Latency p99',
	requests_per_second: 'Requests per second', model_load_time_ms: 'Model load time',
	install_failure_rate: 'Install failure rate', confidence_mean: 'Confidence (mean)',
	confidence_shift: 'Confidence shift (KL)', cpu_pct: 'CPU', mem_pct: 'Memory',
	temperature_c: 'Temperature', disk_free_mb: 'Disk free', npu_pct: 'NPU' };

/* Metrics read from Prometheus (a provider in the policy): their values are
 * the query's own, in base units (ratios, seconds). */
const PROM = new Set();
function notePromMetrics(ro) {
	for (const st of (ro.policy_spec || {}).stages || [])
		for (const m of st.metrics || []) if (m.provider) PROM.add(m.name);
}

function fmtMetric(metric, v) {
	if (v === null || v === undefined || Number.isNaN(v)) return '—';
	if (PROM.has(metric)) return v === 0 ? '0' : v.toPrecision(3);
	if (RATIO.includes(metric)) return (v * 100).toFixed(v < 0.001 && v > 0 ? 3 : 2) + '%';
	if (MILLIS.includes(metric)) return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
	const n = v === 0 ? '0' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
	return n + (SUFFIX[metric] || '');
}

function fmtDuration(s) {
	s = Math.round(s);
	if (s < 0) s = 0;
	if (s < 90) return s + 's';
	if (s < 3600 || (s < 5400 && s % 3600)) return Math.round(s / 60) + 'm';
	if (s < 172800) return (s / 3600).toFixed(1).replace(/\.0$/, '') + 'h';
	return Math.round(s / 86400) + 'd';
}

function ago(iso) {
	if (!iso) return 'never';
	const d = (Date.now() - Date.parse(iso)) / 1000;
	return d < 5 ? 'just now' : fmtDuration(d) + ' ago';
}

function clock(iso) {
	const d = new Date(iso);
	return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function pct(size) {
	return (size * 100).toFixed(size < 0.1 ? 1 : 0).replace(/\.0$/, '') + '%';
}

function badge(st, id) {
	return h('span', { class: 'badge state-' + st, id, 'data-state': st }, st.replace('_', ' '));
}

/* ---------- API ---------- */

class ApiError extends Error {
	constructor(status, detail) {
		super(detail);
		this.status = status;
	}
}

async function api(method, path, body) {
	const opts = { method, headers: { Authorization: 'Bearer ' + state.token } };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	const r = await fetch(path, opts);
	const text = await r.text();
	let j = null;
	try {
		j = text ? JSON.parse(text) : null;
	} catch (e) {
		j = null;
	}
	if (r.status === 401 && state.who) {
		signOut('Your token was not accepted (it may have been revoked). Sign in again.');
		throw new ApiError(401, 'unauthorized');
	}
	if (!r.ok) throw new ApiError(r.status, (j && (j.detail || j.title)) || r.statusText);
	return j;
}

function flash(msg, ok) {
	const f = $('#flash');
	f.textContent = msg;
	f.className = ok ? 'flash ok' : 'flash';
	f.hidden = !msg;
	clearTimeout(flash.t);
	if (msg) flash.t = setTimeout(() => { f.hidden = true; }, ok ? 4000 : 10000);
}

/* ---------- confirmation dialog ---------- */

function confirmDialog(title, text, danger) {
	const d = $('#confirm');
	$('#confirm-title').textContent = title;
	$('#confirm-text').textContent = text;
	$('#confirm-ok').className = danger ? 'danger' : 'primary';
	$('#confirm-ok').textContent = title;
	return new Promise((resolve) => {
		d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
		d.returnValue = '';
		d.showModal();
	});
}

/* ---------- session ---------- */

/* Forgets the token; the page at the current address asks for a new one. */
function signOut(msg) {
	sessionStorage.removeItem(TOKEN_KEY);
	state.token = null;
	state.who = null;
	route(msg);
}

function showWho() {
	const signed = !!state.who;
	$('#nav').hidden = !signed;
	$('#who').hidden = !signed;
	if (signed) {
		$('#who-name').textContent = state.who.name;
		$('#who-role').textContent = state.who.role;
	}
}

function canOperate() {
	return state.who && OPERATE.includes(state.who.role);
}

function viewSignIn(main, msg) {
	const input = h('input', { type: 'password', id: 'signin-token', autocomplete: 'off',
		placeholder: 'rmp_…', 'aria-label': 'API token', required: true });
	const err = h('div', { class: 'error', id: 'signin-error' }, msg || '');
	const submit = async (ev) => {
		ev.preventDefault();
		const tok = input.value.trim();
		if (!tok) return;
		state.token = tok;
		try {
			state.who = await api('GET', '/v1/whoami');
		} catch (e) {
			state.token = null;
			err.textContent = e.status === 401 ? 'That token is not known to this server.' : e.message;
			return;
		}
		sessionStorage.setItem(TOKEN_KEY, tok);
		route();
	};
	/* method=post and a nameless input: without JavaScript the form
	 * submits nothing, so the token can never land in a URL or a log */
	replace(main, h('div', { class: 'panel signin' },
		h('h1', {}, 'Sign in to ramp'),
		h('p', { class: 'muted' }, 'Paste an API token (viewer, operator or admin). It stays in this tab only.'),
		h('form', { id: 'signin', method: 'post', onsubmit: submit },
			input, err, h('button', { class: 'primary', id: 'signin-submit', type: 'submit' }, 'Sign in'))));
	input.focus();
	return {};
}

/* ---------- rollouts list ---------- */

function progress(dev) {
	const t = Math.max(dev.target || 0, dev.assigned || 0, 1);
	const inst = dev.installed || 0, failed = dev.failed || 0;
	const assigned = Math.max((dev.assigned || 0) - inst - failed, 0);
	const seg = (cls, n) => {
		const s = h('span', { class: cls, title: `${cls}: ${n}` });
		s.style.width = (100 * n / t) + '%';
		return s;
	};
	return h('div', {},
		h('div', { class: 'bar', role: 'img', 'aria-label': `${inst} of ${dev.target} installed` },
			seg('installed', inst), seg('assigned', assigned), seg('failed', failed)),
		h('div', { class: 'legend' },
			`${dev.assigned}/${dev.target} assigned · ${inst} installed · ${failed} failed`));
}

function stageText(ro) {
	const st = ro.stage || {};
	const n = ((ro.policy_spec || {}).stages || []).length;
	return `${st.name || '?'} ${pct(st.size || 0)} (${(st.index || 0) + 1}/${n || '?'})`;
}

const LIST_MAX = 100; /* cards shown: the newest that match the filter */
const STATES = ['progressing', 'paused', 'awaiting_approval', 'succeeded', 'rolled_back', 'aborted'];

/* Every rollout, newest first, whatever its state: a rollout that just
 * rolled back is what a user comes to look at. The filter (state, model) is
 * applied here, on the one list the API pages through. */
function viewRollouts(main) {
	const stateSel = h('select', { id: 'rollouts-state', 'aria-label': 'state' },
		h('option', { value: 'all' }, 'All states'), h('option', { value: 'active' }, 'Active'),
		STATES.map((st) => h('option', { value: st }, st.replace('_', ' '))));
	const modelSel = h('select', { id: 'rollouts-model', 'aria-label': 'model' },
		h('option', { value: '' }, 'All models'));
	stateSel.value = sessionStorage.getItem('ramp.list.state') || 'all';
	if (!stateSel.value) stateSel.value = 'all';
	let wantModel = sessionStorage.getItem('ramp.list.model') || '';
	const list = h('div', { class: 'cards', id: 'rollouts' }, h('p', { class: 'muted' }, 'Loading…'));
	const note = h('p', { class: 'muted legend', id: 'rollouts-note' });
	const gitopsLine = h('p', { class: 'muted legend', id: 'gitops-line', hidden: true });
	const changed = () => {
		wantModel = modelSel.value;
		sessionStorage.setItem('ramp.list.state', stateSel.value);
		sessionStorage.setItem('ramp.list.model', wantModel);
		last = '';
		v.refresh().catch((e) => flash(e.message));
	};
	stateSel.addEventListener('change', changed);
	modelSel.addEventListener('change', changed);
	replace(main, h('div', { class: 'row spread' }, h('h1', {}, 'Rollouts'),
		h('div', { class: 'row', id: 'rollouts-filter' }, stateSel, modelSel)), gitopsLine, note, list);
	let last = '', models = '';
	const v = {
		async refresh() {
			gitopsText(gitopsLine).catch(() => {});
			const items = [];
			let after = null;
			do {
				const q = '/v1/rollouts?state=all&limit=1000' + (after ? `&after=${after}` : '');
				const page = await api('GET', q);
				items.push(...page.items);
				after = page.next;
			} while (after && items.length < 5000);
			items.sort((a, b) => b.id - a.id);
			const names = [...new Set(items.map((r) => r.model))].sort();
			if (wantModel && !names.includes(wantModel)) names.push(wantModel);
			if (JSON.stringify(names) !== models) {
				models = JSON.stringify(names);
				replace(modelSel, h('option', { value: '' }, 'All models'),
					names.map((m) => h('option', { value: m }, m)));
				modelSel.value = wantModel;
			}
			const st = stateSel.value;
			const match = items.filter((r) => (st === 'all' || r.state === st ||
				(st === 'active' && ACTIVE.includes(r.state))) && (!wantModel || r.model === wantModel));
			const shown = match.slice(0, LIST_MAX);
			const key = JSON.stringify([items.length, shown.map((r) => [r.id, r.state, r.stage, r.devices])]);
			if (key === last) return;
			last = key;
			note.textContent = match.length > shown.length
				? `The newest ${shown.length} of ${match.length} matching rollouts.`
				: `${match.length} of ${items.length} rollouts.`;
			if (!shown.length) {
				replace(list, h('div', { class: 'panel muted', id: 'rollouts-empty' }, items.length
					? 'No rollout matches this filter.'
					: 'No rollouts yet. Start one with rampctl rollout create or POST /v1/rollouts.'));
				return;
			}
			replace(list, shown.map((ro) => h('a', { class: 'card', href: `#/rollouts/${ro.id}`,
				'data-rollout': ro.id, 'data-state': ro.state },
			h('span', { class: 'id mono' }, '#' + ro.id),
			h('span', {}, h('div', { class: 'model' }, ro.model),
				h('div', { class: 'mono muted' }, `${ro.baseline_version || '∅'} → ${ro.version}`)),
			h('span', {}, badge(ro.state)),
			h('span', {}, stageText(ro)),
			progress(ro.devices))));
		},
	};
	return v;
}

/* GitOps in one line (GET /v1/gitops): hidden when off. */
async function gitopsText(el) {
	const g = await api('GET', '/v1/gitops');
	el.hidden = !g.enabled;
	if (!g.enabled) return;
	const short = (c) => (c ? c.slice(0, 10) : 'nothing');
	const bad = (g.objects || []).filter((o) => o.state !== 'synced' ||
		(o.health || '').startsWith('degraded'));
	let text = `GitOps ${g.state}: ${g.repo} ${g.branch}, applied ${short(g.applied_commit)}`;
	if (g.unreachable_since) text += `, remote unreachable since ${clock(g.unreachable_since)}`;
	if (g.last_error && g.last_error.file)
		text += ` — ${short(g.last_error.commit)} refused: ${g.last_error.file}` +
			`${g.last_error.line ? ':' + g.last_error.line : ''}: ${g.last_error.reason}`;
	if (bad.length) text += ` — ${bad.map((o) => `${o.kind} ${o.name}: ${o.health || o.state}`).join(', ')}`;
	el.dataset.state = g.state;
	el.textContent = text;
}

/* ---------- one rollout ---------- */

function verbsFor(st) {
	const v = [];
	if (st === 'progressing' || st === 'awaiting_approval') v.push('pause');
	if (st === 'paused') v.push('resume');
	if (st === 'awaiting_approval') v.push('approve');
	if (st === 'progressing' || st === 'paused') v.push('promote', 'promote-full');
	if (ACTIVE.includes(st)) v.push('rollback', 'abort');
	return v;
}

const VERBS = {
	pause: { label: 'Pause', text: 'Hold the rollout at its current stage. Devices keep what they run.' },
	resume: { label: 'Resume', text: 'Continue the rollout from where it was paused.' },
	approve: { label: 'Approve', text: 'Approve the next stage.' },
	promote: { label: 'Promote', text: 'End the current stage\'s wait now and start the next stage.' },
	'promote-full': { label: 'Promote to 100%', path: 'promote?full=true', danger: true,
		text: 'Skip the remaining stages: every target device gets the new version.' },
	rollback: { label: 'Roll back', danger: true,
		text: 'Return every assigned device to the baseline version and end the rollout.' },
	abort: { label: 'Abort', danger: true,
		text: 'End the rollout and return every assigned device to the baseline version.' },
};

function actions(ro, onDone) {
	if (!canOperate())
		return h('p', { class: 'muted', id: 'actions-note' },
			`Signed in as ${state.who.role}: actions need an operator or admin token.`);
	const verbs = verbsFor(ro.state);
	if (!verbs.length) return h('p', { class: 'muted', id: 'actions-note' }, 'This rollout has ended.');
	return h('div', { class: 'actions', id: 'actions' }, verbs.map((verb) => {
		const d = VERBS[verb];
		const b = h('button', { type: 'button', 'data-verb': verb, class: d.danger ? 'danger' : '' }, d.label);
		b.addEventListener('click', async () => {
			const ok = await confirmDialog(d.label,
				`${d.text}\n\nRollout #${ro.id}: ${ro.model} ${ro.version}.`, d.danger);
			if (!ok) return;
			b.disabled = true;
			try {
				await api('POST', `/v1/rollouts/${ro.id}/${d.path || verb}`);
				flash(`${d.label}: done`, true);
			} catch (e) {
				flash(`${d.label} failed: ${e.message}`);
			}
			b.disabled = false;
			onDone();
		});
		return b;
	}));
}

/* What the events say about the stages: the names of those that began
 * (stage_started) and, for stages left by a person's decision rather than
 * a passed window, how they were left (promoted events). */
function stageHistory(ro) {
	const started = new Set(), left = new Map();
	for (const e of ro.events || []) {
		const d = e.detail || '';
		let m;
		if (e.type === 'stage_started' && (m = /^stage (\S+) started/.exec(d))) started.add(m[1]);
		else if (e.type === 'promoted' && (m = /^promoted to full by .*: from stage (\S+) to /.exec(d)))
			left.set(m[1], 'promoted to 100%');
		else if (e.type === 'promoted' && (m = /^promoted by .*: stage (\S+) ended early/.exec(d)))
			left.set(m[1], 'promoted early');
		else if (e.type === 'promoted' && (m = /^stage (\S+) approved;/.exec(d)))
			left.set(m[1], 'passed, approved');
		else if (e.type === 'promoted' && (m = /^stage (\S+) passed early /.exec(d)))
			left.set(m[1], 'passed early (sequential judge)');
	}
	return { started, left };
}

/* One stage's status: [class, status, note]. A rollout that ended early
 * never reached its later stages: they say so, never "pending"; stages
 * that a promotion to 100% jumped over say "skipped". */
function stageStatus(ro, i, hist) {
	const cur = ro.stage.index, name = (ro.policy_spec.stages[i] || {}).name;
	const ended = !ACTIVE.includes(ro.state);
	if (i < cur)
		return hist.started.size && !hist.started.has(name) ? ['skipped', 'skipped', 'skipped (promoted past)']
			: ['done', 'passed', hist.left.get(name) || 'passed'];
	if (i > cur)
		return ended ? ['skipped', 'not_reached', 'not reached'] : ['', 'pending', 'pending'];
	if (ro.state === 'succeeded') return ['done', 'passed', 'passed'];
	if (ro.state === 'rolled_back') return ['failed', 'rolled_back', 'rolled back here'];
	if (ro.state === 'aborted') return ['failed', 'aborted', 'aborted here'];
	if (ro.state === 'progressing') {
		const left = (Date.parse(ro.stage.window_ends_at) - Date.now()) / 1000;
		return ['current', 'current', left > 0 ? `window ends in ${fmtDuration(left)}` : 'window ended, evaluating'];
	}
	return ['current', 'current', ro.state.replace('_', ' ')];
}

function ladder(ro) {
	const stages = (ro.policy_spec || {}).stages || [];
	const hist = stageHistory(ro);
	return h('ol', { class: 'ladder', id: 'ladder' }, stages.map((s, i) => {
		const [cls, status, note] = stageStatus(ro, i, hist);
		return h('li', { class: cls, 'data-stage': s.name, 'data-status': status },
			h('span', { class: 'size' }, pct(s.size)),
			h('div', { class: 'name' }, s.name),
			h('div', { class: 'note status' }, note),
			h('div', { class: 'note' }, `window ${fmtDuration(s.validation_window || 0)}` +
				(s.approval ? ' · approval' : '') + (s.cohort ? ` · cohort ${s.cohort}` : '')),
			windowNotes(ro, s, i));
	}));
}

/* Maintenance windows (docs/windows.md): the stage's specs and, on the
 * current stage, how many devices wait for one and when it opens. */
function windowNotes(ro, s, i) {
	const w = ro.windows || {};
	const out = [];
	if ((s.windows || []).length)
		out.push(h('div', { class: 'note windows', 'data-windows': s.windows.join(' | ') },
			`maintenance ${s.windows.join(', ')}`));
	if (i === ro.stage.index && (w.waiting > 0 || (ro.devices || {}).deferred > 0 ||
		(ro.state === 'rolled_back' && w.next_window_at)))
		out.push(h('div', { class: 'note waiting', 'data-waiting': w.waiting },
			`${w.waiting} waiting for a window` +
			(w.next_window_at ? ` · next opens ${w.next_window_at}` : '') +
			((ro.devices || {}).deferred ? ` · ${ro.devices.deferred} deferred by the device` : '')));
	return out;
}

/* The sequential judge's why, with its p-value or likelihood ratio and
 * effect (docs/judge.md): "why did it roll back?" on the same screen. */
function judgeLine(j) {
	const f = (v) => (v === null || v === undefined ? '—' : Number(v).toPrecision(3));
	const lr = j.likelihood_ratio !== null && j.likelihood_ratio !== undefined ? `, LR ${f(j.likelihood_ratio)}` : '';
	return h('div', { class: 'muted judge', 'data-test': j.test },
		`${j.why} (p ${f(j.p_value)}${lr}, effect ${f(j.effect)}; ` +
		`${j.devices.canary ?? 0} vs ${j.devices.baseline ?? 0} devices)`);
}

function analysisTables(ro) {
	const stages = (ro.policy_spec || {}).stages || [];
	notePromMetrics(ro);
	const by = new Map();
	for (const a of ro.analysis || []) {
		const key = a.stage + '\u0000' + a.metric + '\u0000' + (a.variant || '');
		const row = by.get(key) || { stage: a.stage, metric: a.metric, variant: a.variant };
		row[a.arm] = a;
		by.set(key, row);
	}
	if (!by.size) return h('p', { class: 'muted' }, 'No evaluation yet.');
	const rows = [...by.values()].sort((a, b) => b.stage - a.stage || a.metric.localeCompare(b.metric) ||
		(a.variant || '').localeCompare(b.variant || ''));
	const out = [];
	let stage = -1;
	for (const r of rows) {
		if (r.stage !== stage) {
			stage = r.stage;
			const name = (stages[stage] || {}).name || `stage ${stage}`;
			out.push(h('tr', { class: 'stage-row' }, h('th', { colspan: 6 }, `Stage ${stage + 1}: ${name}`)));
		}
		const c = r.canary || {}, b = r.baseline || {};
		const base = b.value !== null && b.value !== undefined ? b.value : c.baseline;
		out.push(h('tr', { 'data-metric': r.metric, 'data-stage': r.stage },
			h('td', { class: 'mono' }, r.metric,
				r.variant ? h('span', { class: 'muted' }, ` (${r.variant})`) : null,
				c.query ? h('div', { class: 'note query', title: c.query }, c.query) : null,
				c.note ? h('div', { class: 'note' }, c.note) : null),
			h('td', { class: 'num', 'data-arm': 'canary' }, fmtMetric(r.metric, c.value)),
			h('td', { class: 'num', 'data-arm': 'baseline' }, fmtMetric(r.metric, base)),
			h('td', { class: 'mono' }, c.threshold || '', c.judge ? judgeLine(c.judge) : null),
			h('td', { class: 'num hide-sm' }, `${c.samples ?? 0} / ${c.devices ?? 0}`),
			h('td', {}, h('span', { class: 'badge result-' + (c.result || 'info') }, c.result || '—'))));
	}
	return h('div', { class: 'table-wrap' }, h('table', { id: 'analysis' },
		h('thead', {}, h('tr', {}, h('th', {}, 'Metric'), h('th', { class: 'num' }, 'Canary'),
			h('th', { class: 'num' }, 'Baseline'), h('th', {}, 'Threshold'),
			h('th', { class: 'num hide-sm' }, 'Samples / devices'), h('th', {}, 'Verdict'))),
		h('tbody', {}, out)));
}

/* A threshold's text ("< 1%", "< 2x baseline", "< baseline + 5") as a rule:
 * {kind: 'absolute'|'factor'|'offset', v} in the metric's base units (the
 * grammar of server/domain/threshold.c), or null when it does not parse. */
function parseThreshold(metric, text) {
	const unit = PROM.has(metric) ? (u) => (u === '%' ? 0.01 : u === 'ms' ? 0.001 : 1)
		: (u) => (u === '%' && RATIO.includes(metric) ? 0.01 : u === 's' ? 1000 : 1);
	const t = (text || '').trim();
	let m = /^[<>]=?\s*(-?[0-9.]+)\s*x\s*baseline$/.exec(t);
	if (m) return { kind: 'factor', v: parseFloat(m[1]) };
	m = /^[<>]=?\s*baseline\s*([+-])\s*([0-9.]+)\s*(ms|s|%)?$/.exec(t);
	if (m) return { kind: 'offset', v: (m[1] === '-' ? -1 : 1) * parseFloat(m[2]) * unit(m[3]) };
	m = /^[<>]=?\s*(-?[0-9.]+)\s*(ms|s|%)?$/.exec(t);
	if (m) return { kind: 'absolute', v: parseFloat(m[1]) * unit(m[2]) };
	return null;
}

/* The limit a rule sets, given the baseline value the engine compared with. */
function limitOf(rule, baseline) {
	if (!rule) return null;
	if (rule.kind === 'absolute') return rule.v;
	if (baseline === null || baseline === undefined || !Number.isFinite(baseline)) return null;
	return rule.kind === 'factor' ? rule.v * baseline : baseline + rule.v;
}

/* The metrics stage i gates on: [{name, threshold}] (a stage without a
 * metrics list inherits the previous stage's, as the policy parser does). */
function stageMetrics(ro, i) {
	const stages = (ro.policy_spec || {}).stages || [];
	for (let k = Math.min(i, stages.length - 1); k >= 0; k--)
		if (Array.isArray(stages[k].metrics)) return stages[k].metrics;
	return [];
}

/* Every metric a chart is drawn for: the current stage's first, then those
 * of the other stages in policy order, then any the analysis shows that the
 * policy does not name. */
function chartMetrics(ro) {
	const stages = (ro.policy_spec || {}).stages || [];
	notePromMetrics(ro);
	const order = [ro.stage.index, ...stages.map((_, i) => i).filter((i) => i !== ro.stage.index)];
	const out = [];
	for (const i of order)
		for (const m of stageMetrics(ro, i))
			if (!out.includes(m.name)) out.push(m.name);
	for (const a of ro.analysis || [])
		if (!out.includes(a.metric)) out.push(a.metric);
	return out;
}

/* "canary < 150ms · ramp < 150ms": which stages gate on metric, and how. */
function gateText(ro, metric) {
	const stages = (ro.policy_spec || {}).stages || [];
	const parts = [];
	stages.forEach((st, i) => {
		const m = stageMetrics(ro, i).find((x) => x.name === metric);
		if (m) parts.push(`${st.name} ${m.threshold}`);
	});
	return parts.length ? 'gate: ' + parts.join(' · ') : 'not a gate of this policy';
}

/* The threshold over time, as [[{t, v}...], ...] runs: one limit per canary
 * evaluation, from the threshold of that evaluation's stage and the baseline
 * value the engine used (so "2x baseline" is drawn where it really was). */
function thresholdRuns(ro, metric, pts) {
	const runs = [];
	let run = null, stage = null;
	for (const p of pts) {
		if (p.arm !== 'canary') continue;
		const m = stageMetrics(ro, p.stage).find((x) => x.name === metric);
		const rule = m ? parseThreshold(metric, m.threshold) : null;
		const v = limitOf(rule, p.baseline);
		if (v === null || p.stage !== stage) {
			run = null;
			stage = p.stage;
		}
		if (v === null) continue;
		if (!run) runs.push(run = Object.assign([], { kind: rule.kind === 'absolute' ? 'absolute' : 'relative' }));
		run.push({ t: p.t, v });
	}
	return runs;
}

/* [t0, t1]: the time every chart of a rollout spans, so they line up. */
function timeSpan(hist) {
	const ts = [...hist.values()].flat().filter((p) => p).filter((p) => p.value !== null && p.value !== undefined)
		.map((p) => Date.parse(p.at));
	return ts.length ? [Math.min(...ts), Math.max(...ts)] : null;
}

/* A round step (1, 2, 2.5 or 5 times a power of ten) of at least raw. */
function niceStep(raw) {
	const p = Math.pow(10, Math.floor(Math.log10(raw)));
	return [1, 2, 2.5, 5, 10].map((k) => k * p).find((k) => k >= raw * 0.999);
}

function chart(ro, metric, items, span) {
	const W = 560, H = 220, R = 12, T = 12, B = 26;
	const pts = (items || []).filter((p) => p.value !== null && p.value !== undefined)
		.map((p) => ({ t: Date.parse(p.at), v: p.value, arm: p.arm, stage: p.stage, baseline: p.baseline }));
	const cur = stageMetrics(ro, ro.stage.index).find((x) => x.name === metric);
	const rules = ((ro.policy_spec || {}).stages || []).map((_, i) =>
		(stageMetrics(ro, i).find((x) => x.name === metric) || {}).threshold).filter(Boolean)
		.map((t) => parseThreshold(metric, t)).filter(Boolean);
	const relative = rules.some((r) => r.kind !== 'absolute');
	const title = TITLES[metric] || metric;
	const box = h('div', { class: 'panel chart', 'data-chart': metric, 'data-gated': cur ? 'current' : 'other' },
		h('div', { class: 'row spread' }, h('h2', {}, title),
			h('span', { class: 'legend' }, h('span', { class: 'swatch canary' }), 'canary',
				h('span', { class: 'swatch baseline' }), 'baseline',
				rules.length ? [h('span', { class: 'swatch threshold' }),
					relative ? 'threshold (from baseline)' : 'threshold'] : null)),
		h('div', { class: 'legend mono' }, gateText(ro, metric)));
	if (!items) {
		box.append(h('p', { class: 'muted nodata' }, `The server keeps no history for ${metric}.`));
		return box;
	}
	if (!pts.length) {
		box.append(h('p', { class: 'muted nodata' }, `No evaluation has data for ${metric} yet: ` +
			'it appears once the canary devices report it.'));
		return box;
	}
	const runs = thresholdRuns(ro, metric, pts);
	const lims = runs.flat().map((p) => p.v);
	const t0 = span ? span[0] : Math.min(...pts.map((p) => p.t));
	const t1 = Math.max(span ? span[1] : 0, ...pts.map((p) => p.t), t0 + 1000);
	const vals = [...pts.map((p) => p.v), ...lims];
	const hi = Math.max(...vals, 0), lo = Math.min(...vals, 0);
	/* four round steps from a round floor, with headroom above the highest */
	const step = niceStep((hi > lo ? hi - lo : Math.abs(hi) || (RATIO.includes(metric) ? 0.01 : 1)) / 4);
	const vmin = Math.floor(lo / step) * step;
	const n = Math.max(2, Math.round((Math.ceil((hi + (hi - lo) * 0.05) / step) * step - vmin) / step));
	const vmax = vmin + n * step;
	const ticks = Array.from({ length: n + 1 }, (_, i) => vmin + i * step);
	const labels = ticks.map((v) => fmtMetric(metric, v));
	/* room for the longest tick label at the phone's larger tick font */
	const L = Math.min(120, 12 + 9.6 * Math.max(...labels.map((l) => l.length)));
	const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
	const y = (v) => T + (H - T - B) * (1 - (v - vmin) / (vmax - vmin));
	const line = (s) => s.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p.v).toFixed(1)).join(' ');
	const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img',
		'aria-label': `${title}: canary and baseline over time` });
	ticks.forEach((v, i) => {
		g.append(svg('line', { class: i ? 'grid' : 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
			svg('text', { class: 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, labels[i]));
	});
	g.append(svg('text', { class: 'tick', x: L, y: H - 6 }, clock(t0)),
		svg('text', { class: 'tick', x: W - R, y: H - 6, 'text-anchor': 'end' }, clock(t1)));
	let prev = null;
	for (const p of pts.filter((q) => q.arm === 'canary')) {
		if (prev !== null && p.stage !== prev) {
			g.append(svg('line', { class: 'stage-mark', x1: x(p.t), x2: x(p.t), y1: T, y2: H - B }),
				svg('text', { class: 'stage-label', x: x(p.t) + 3, y: T + 10 }, 'stage ' + (p.stage + 1)));
		}
		prev = p.stage;
	}
	for (const r of runs) {
		const d = r.length > 1 ? line(r) : `M${x(r[0].t) - 4} ${y(r[0].v)} L${x(r[0].t) + 4} ${y(r[0].v)}`;
		g.append(svg('path', { class: 'threshold', d, 'data-kind': r.kind, 'data-points': r.length }));
	}
	for (const arm of ['baseline', 'canary']) {
		const s = pts.filter((p) => p.arm === arm);
		if (!s.length) continue;
		g.append(svg('path', { class: arm, d: line(s), 'data-arm': arm, 'data-points': s.length }));
		if (s.length === 1) g.append(svg('circle', { class: arm, cx: x(s[0].t), cy: y(s[0].v), r: 3 }));
	}
	box.append(g);
	return box;
}

function eventLog(ro) {
	const ev = [...(ro.events || [])].reverse();
	return h('div', { class: 'table-wrap' }, h('table', { class: 'events', id: 'events' },
		h('tbody', {}, ev.map((e) => h('tr', { 'data-event': e.type },
			h('td', { title: e.at }, clock(e.at)),
			h('td', {}, h('strong', {}, e.type)),
			h('td', {}, e.detail))))));
}

function viewRollout(main, id) {
	const head = h('div', { id: 'rollout-head' }, h('p', { class: 'muted' }, 'Loading…'));
	const act = h('div', { class: 'panel' });
	const lad = h('div', { class: 'panel' });
	const charts = h('div', { class: 'grid2', id: 'charts' });
	const ana = h('div', { class: 'panel' });
	const evs = h('div', { class: 'panel' });
	replace(main, h('p', {}, h('a', { href: '#/rollouts' }, '← Rollouts')), head, act, lad, ana, charts,
		h('br'), evs);
	let last = {}, ro = null, hist = null, fetched = '';
	const v = {
		async refresh() {
			ro = await api('GET', `/v1/rollouts/${encodeURIComponent(id)}`);
			/* one series per metric the policy gates on; the history only
			 * grows when the engine evaluates, so it is fetched again then */
			const metrics = chartMetrics(ro);
			const want = JSON.stringify([metrics, ro.last_evaluated_at]);
			if (want !== fetched) {
				/* a metric the history refuses (400: a name this server
				 * does not chart) gets a note, not a failed page */
				const got = await Promise.all(metrics.map((m) =>
					api('GET', `/v1/rollouts/${ro.id}/history?metric=${encodeURIComponent(m)}`)
						.then((r) => r.items, (e) => { if (e.status === 400) return null; throw e; })));
				hist = new Map(metrics.map((m, i) => [m, got[i]]));
				fetched = want;
			}
			const put = (key, el, val, fn) => {
				const k = JSON.stringify(val);
				if (last[key] === k) return;
				last[key] = k;
				replace(el, fn());
			};
			put('head', head, [ro.state, ro.stage, ro.devices], () => h('div', { class: 'panel' },
				h('div', { class: 'row spread' },
					h('h1', {}, h('span', { class: 'muted mono' }, '#' + ro.id + ' '), ro.model, ' ',
						h('span', { class: 'mono' }, `${ro.baseline_version || '∅'} → ${ro.version}`)),
					badge(ro.state, 'rollout-state')),
				h('div', { class: 'row muted' },
					h('span', {}, 'stage ', h('strong', { id: 'stage-name' }, ro.stage.name), ` (${pct(ro.stage.size)})`),
					h('span', {}, `policy ${ro.policy}`),
					ro.selector ? h('span', { class: 'mono' }, `selector ${ro.selector}`) : null,
					h('span', {}, `by ${ro.created_by}, ${ago(ro.created_at)}`)),
				h('br'), progress(ro.devices)));
			put('act', act, [ro.state, state.who.role], () => [h('h2', {}, 'Actions'), actions(ro, () => v.refresh())]);
			put('lad', lad, [ro.state, ro.stage, (ro.events || []).length, Math.floor(Date.now() / 10000)],
				() => [h('h2', {}, 'Stages'), ladder(ro)]);
			put('ana', ana, ro.analysis, () => [h('h2', {}, 'Analysis'), analysisTables(ro)]);
			put('charts', charts, [fetched, ro.stage.index],
				() => hist.size ? [...hist].map(([m, items]) => chart(ro, m, items, timeSpan(hist)))
					: h('p', { class: 'panel muted' }, 'This policy gates on no metric: nothing to chart.'));
			put('evs', evs, ro.events, () => [h('h2', {}, 'Events'), eventLog(ro)]);
		},
	};
	return v;
}

/* ---------- fleet ---------- */

const DEVICE_STATES = { installed: 'ok', failed: 'bad', rolled_back: 'bad', downloading: 'info',
	verifying: 'info', deferred: 'info' };

/* One model on one device: version, install state and, when the server
 * reports them (detail, detail_at, failures, stuck: newer servers do), the
 * last failure reason as plain text and a "stuck" badge. Anything missing or
 * of another type is left out, never shown as "undefined". */
function deviceModel(m, x) {
	const o = x && typeof x === 'object' ? x : {};
	const str = (v) => (typeof v === 'string' && v !== '' ? v : null);
	const st = str(o.state) || 'unknown';
	const detail = str(o.detail), at = str(o.detail_at);
	const failures = Number.isFinite(o.failures) && o.failures > 0 ? o.failures : 0;
	return h('div', { class: 'dev-model', 'data-model': m, 'data-state': st },
		h('span', { class: 'mono' }, `${m} ${str(o.version) || '?'} `),
		h('span', { class: 'dev-state result-' + (DEVICE_STATES[st] || 'info') }, st),
		o.stuck === true ? h('span', { class: 'badge stuck', title: str(o.since) ? `since ${o.since}` : null },
			'stuck') : null,
		failures ? h('span', { class: 'muted failures' }, ` · ${failures} failure${failures > 1 ? 's' : ''}`) : null,
		detail ? h('div', { class: 'detail', title: at || null }, detail, at ? h('span', { class: 'muted' },
			` (${ago(at)})`) : null) : null);
}

function viewFleet(main) {
	const sum = h('div', { id: 'fleet-summary' }, h('p', { class: 'muted' }, 'Loading…'));
	const cohorts = h('div', { class: 'panel', id: 'cohorts' });
	/* the placeholder stays short enough for a phone; the syntax is spelled out below */
	const sel = h('input', { id: 'device-selector', class: 'grow', placeholder: 'e.g. site=wh-3,age_days>=365',
		'aria-label': 'label selector', 'aria-describedby': 'selector-help' });
	const devs = h('div', { class: 'table-wrap', id: 'devices' });
	const more = h('button', { type: 'button', id: 'devices-more', hidden: true }, 'More');
	let after = null, rows = [];
	const loadDevices = async (reset) => {
		if (reset) { after = null; rows = []; }
		const q = '/v1/devices?limit=100' + (sel.value.trim() ? '&selector=' + encodeURIComponent(sel.value.trim()) : '') +
			(after ? '&after=' + encodeURIComponent(after) : '');
		try {
			const page = await api('GET', q);
			rows.push(...page.items);
			after = page.next;
		} catch (e) {
			replace(devs, h('p', { class: 'error' }, e.message));
			return;
		}
		more.hidden = !after;
		replace(devs, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Device'), h('th', {}, 'Platform'),
			h('th', {}, 'Models'), h('th', { class: 'hide-sm' }, 'Labels'), h('th', {}, 'Last seen'))),
		h('tbody', {}, rows.map((d) => h('tr', { 'data-device': d.id },
			h('td', { class: 'mono' }, d.id), h('td', {}, d.platform),
			h('td', {}, Object.entries(d.models && typeof d.models === 'object' ? d.models : {})
				.map(([m, x]) => deviceModel(m, x))),
			h('td', { class: 'mono hide-sm' }, Object.entries(d.labels || {}).map(([k, x]) => `${k}=${x}`).join(', ')),
			h('td', { title: d.last_seen || '' }, ago(d.last_seen)))))));
	};
	more.addEventListener('click', () => loadDevices(false));
	const form = h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); loadDevices(true); } },
		sel, h('button', { type: 'submit', id: 'devices-filter' }, 'Filter'));
	const help = h('div', { class: 'legend', id: 'selector-help' },
		'Label selector: k=v, k!=v, k in (a,b), k notin (a,b), k, !k, k>=N; a comma means AND.');
	replace(main, h('h1', {}, 'Fleet'), h('br'), sum, cohorts,
		h('div', { class: 'panel' }, h('h2', {}, 'Devices'), form, help, h('br'), devs, more));
	loadDevices(true);
	let last = '';
	return {
		async refresh() {
			const [s, co] = await Promise.all([api('GET', '/v1/fleet/summary'), api('GET', '/v1/cohorts?limit=100')]);
			const counts = await Promise.all(co.items.slice(0, 50).map((c) =>
				api('GET', '/v1/cohorts/' + encodeURIComponent(c.name)).then((x) => x.devices, () => null)));
			const key = JSON.stringify([s, co, counts]);
			if (key === last) return;
			last = key;
			const table = (head, body) => h('div', { class: 'table-wrap' }, h('table', {},
				h('thead', {}, h('tr', {}, head.map((x, i) => h('th', { class: i === head.length - 1 ? 'num' : '' }, x)))),
				h('tbody', {}, body)));
			replace(sum, h('div', { class: 'panel' }, h('div', { class: 'stats' },
				h('div', { class: 'stat' }, h('div', { class: 'n', id: 'fleet-total' }, s.devices), h('div', { class: 'l' }, 'devices')),
				Object.entries(s.last_seen).map(([k, n]) => h('div', { class: 'stat' }, h('div', { class: 'n' }, n),
					h('div', { class: 'l' }, k === 'never' ? 'never seen' : k === 'older' ? 'seen > 24h ago' : `seen in ${k}`))))),
			h('div', { class: 'grid2' },
				h('div', { class: 'panel' }, h('h2', {}, 'By platform'),
					table(['Platform', 'Devices'], Object.entries(s.platforms).map(([p, n]) =>
						h('tr', { 'data-platform': p }, h('td', {}, p), h('td', { class: 'num' }, n))))),
				h('div', { class: 'panel' }, h('h2', {}, 'By model version and state'),
					s.models.length ? table(['Model', 'Version', 'State', 'Devices'], s.models.map((m) =>
						h('tr', {}, h('td', {}, m.model), h('td', { class: 'mono' }, m.version),
							h('td', {}, m.state), h('td', { class: 'num' }, m.devices))))
						: h('p', { class: 'muted' }, 'No device has reported a model yet.'))), h('br'));
			replace(cohorts, h('h2', {}, 'Cohorts'), co.items.length ? table(['Cohort', 'Selector', 'Devices'],
				co.items.map((c, i) => h('tr', {}, h('td', {}, c.name), h('td', { class: 'mono' }, c.selector),
					h('td', { class: 'num' }, counts[i] ?? '—'))))
				: h('p', { class: 'muted' }, 'No cohorts. PUT /v1/cohorts/{name} names a selector.'));
		},
	};
}

/* ---------- router and polling ---------- */

function stopPolling() {
	clearTimeout(state.timer);
	state.timer = null;
	state.view = null;
}

function poll(view) {
	const tick = async () => {
		if (state.view !== view) return;
		try {
			await view.refresh();
		} catch (e) {
			if (e.status !== 401) flash(e.message);
		}
		if (state.view === view) state.timer = setTimeout(tick, POLL_MS);
	};
	state.view = view;
	tick();
}

async function route(msg) {
	stopPolling();
	const main = $('#app');
	const hash = location.hash || '#/rollouts';
	if (!state.token) {
		state.who = null;
		showWho();
		viewSignIn(main, msg);
		return;
	}
	if (!state.who) {
		try {
			state.who = await api('GET', '/v1/whoami');
		} catch (e) {
			if (e.status !== 401) flash(e.message);
			return;
		}
	}
	showWho();
	const parts = hash.replace(/^#\/?/, '').split('/');
	for (const a of document.querySelectorAll('[data-nav]'))
		a.classList.toggle('active', a.dataset.nav === parts[0]);
	if (parts[0] === 'fleet') poll(viewFleet(main));
	else if (parts[0] === 'rollouts' && parts[1]) poll(viewRollout(main, parts[1]));
	else poll(viewRollouts(main));
}

window.addEventListener('hashchange', () => route());
window.addEventListener('DOMContentLoaded', () => {
	$('#signout').addEventListener('click', () => signOut('Signed out.'));
	route();
});
