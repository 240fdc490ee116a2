// dashboard.js - drives Debian's chromium (headless, through playwright-core)
// against a running rampd, for tests/integration/test_browser.py, which
// starts the server and plays the fleet. Each milestone is printed as
// "step <name>" on stdout: the Python side waits on some of them (it starts
// healthy telemetry after "seen-canary" and injects the fault after
// "resumed", and starts a second rollout after "devices"). Any failed
// expectation throws, screenshots every open page (dashboard-failed-<n>.png)
// and the exit status is 1.
//
// The rollout is started by the Python side on "signed-in", so the page
// shows it arriving in the list. The device failure fields the device API
// is gaining (models.<m>.detail, stuck, ...) are tested by rewriting its
// answers in the browser (page.route), so the test holds with or without
// them on the server.
//
// Environment: RAMP_URL, RAMP_TOKEN (operator), RAMP_VIEWER_TOKEN,
// RAMP_DEVICES (fleet size), SHOTS (screenshot dir), USER_DATA_DIR (fresh),
// CHROMIUM (executable).
'use strict';

const { chromium } = require('playwright-core');

const env = process.env;
const url = env.RAMP_URL;
let rid = null;
const T = 60000;

function step(name) {
	process.stdout.write(`step ${name}\n`);
}

function expect(cond, what) {
	if (!cond) throw new Error(`expected ${what}`);
}

async function stateIs(page, st) {
	await page.locator(`#rollout-state[data-state="${st}"]`).waitFor({ timeout: T });
}

async function press(page, verb) {
	await page.locator(`#actions button[data-verb="${verb}"]`).click();
	await page.locator('#confirm[open]').waitFor();
	await page.locator('#confirm-ok').click();
}

async function signIn(page, token) {
	await page.goto(url + '/');
	await signedOutView(page);
	await page.locator('#signin-token').fill(token);
	await page.locator('#signin-submit').click();
}

// Only the sign-in form shows while signed out: the nav and "Sign out" take
// no room and do not render (computed display, no bounding box), whatever the
// stylesheet says about their layout.
async function signedOutView(page) {
	await page.locator('#signin-token').waitFor({ timeout: T });
	for (const sel of ['#nav', '#who', '#signout', 'a[data-nav="fleet"]']) {
		const el = page.locator(sel);
		const display = await el.evaluate((e) => getComputedStyle(e).display);
		const parentShown = await el.evaluate((e) => e.checkVisibility());
		expect(!parentShown, `${sel} not rendered while signed out (display ${display})`);
		expect(await el.boundingBox() === null, `${sel} has no box while signed out`);
	}
	expect(await page.locator('#signin-token').isVisible(), 'the token field while signed out');
	expect(await page.locator('#signin-submit').isVisible(), 'the sign-in button while signed out');
}

// The selector field shows its whole placeholder. An input's scrollWidth
// ignores the placeholder, so the placeholder's text is put in as the value
// (same font, same box) for the measurement, then taken out again.
async function placeholderFits(page) {
	const sel = page.locator('#device-selector');
	await sel.waitFor({ timeout: T });
	const m = await sel.evaluate((e) => {
		const r = { value: e.value, ph: e.placeholder };
		e.value = e.placeholder;
		r.sw = e.scrollWidth;
		r.cw = e.clientWidth;
		e.value = r.value;
		return r;
	});
	expect(m.value === '' && m.ph.length > 0, 'an empty selector field with a placeholder');
	expect(m.sw <= m.cw, `the placeholder "${m.ph}" fits its field (scrollWidth ${m.sw} > clientWidth ${m.cw})`);
}

async function main() {
	const ctx = await chromium.launchPersistentContext(env.USER_DATA_DIR, {
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1280, height: 900 },
	});
	const problems = [];
	const watch = (page) => {
		page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
		page.on('console', (m) => {
			if (m.type() === 'error') problems.push(`console: ${m.text()}`);
		});
	};
	try {
		const page = ctx.pages()[0] || await ctx.newPage();
		watch(page);

		// a first-time visitor sees only the sign-in form
		await page.goto(url + '/');
		await page.locator('#signin-token').waitFor({ timeout: T });
		await page.screenshot({ path: `${env.SHOTS}/dashboard-signin.png` });
		await signedOutView(page);
		step('signed-out-view');

		// a wrong token is refused on the sign-in page
		await signIn(page, 'rmp_not-a-token');
		await page.locator('#signin-error', { hasText: 'not known' }).waitFor({ timeout: T });
		problems.length = 0; // the refused whoami is logged by the browser as a 401
		step('refused-bad-token');

		await page.locator('#signin-token').fill(env.RAMP_TOKEN);
		await page.locator('#signin-submit').click();
		await page.locator('#rollouts').waitFor({ timeout: T });
		expect(!page.url().includes(env.RAMP_TOKEN), 'the token never in the URL');
		expect(await page.evaluate(() => sessionStorage.getItem('ramp.token')) === env.RAMP_TOKEN,
			'the token in sessionStorage');
		expect(await page.locator('#who-role').textContent() === 'operator', 'role shown');
		step('signed-in');

		const card = page.locator('#rollouts a[data-rollout]').first();
		await card.waitFor({ timeout: T });
		rid = await card.getAttribute('data-rollout');
		await page.screenshot({ path: `${env.SHOTS}/dashboard-list.png` });
		await card.click();
		await stateIs(page, 'progressing');
		await page.locator('#stage-name', { hasText: 'canary' }).waitFor({ timeout: T });
		step('seen-canary');

		// the rollout advances while we watch (polling, no reload)
		await page.locator('#stage-name', { hasText: 'ramp' }).waitFor({ timeout: T });
		await page.locator('#ladder li.done[data-stage="canary"]').waitFor({ timeout: T });
		await page.locator('#analysis tr[data-metric="error_rate"] .result-pass').first().waitFor({ timeout: T });
		step('advanced');
		await page.screenshot({ path: `${env.SHOTS}/dashboard-progressing.png`, fullPage: true });

		// pause, with its confirmation; a cancelled confirmation does nothing
		await page.locator('#actions button[data-verb="pause"]').click();
		await page.locator('#confirm-cancel').click();
		expect(await page.locator('#rollout-state').getAttribute('data-state') === 'progressing',
			'cancel leaves the rollout running');
		await press(page, 'pause');
		await stateIs(page, 'paused');
		await page.locator('#events tr[data-event="paused"]').waitFor({ timeout: T });
		expect(await page.locator('#actions button[data-verb="pause"]').count() === 0, 'no pause when paused');
		step('paused');
		await press(page, 'resume');
		await stateIs(page, 'progressing');
		step('resumed');

		// the fault: the test's fleet now reports errors for the new version
		await stateIs(page, 'rolled_back');
		await page.locator('#events tr[data-event="breach"]').waitFor({ timeout: T });
		await page.locator('#events tr[data-event="rolled_back"]').waitFor({ timeout: T });
		await page.locator('#ladder li.failed[data-stage="ramp"]').waitFor({ timeout: T });
		// honest stage states: where it broke, and what it never reached (never "pending")
		const ladderText = async (st) => page.locator(`#ladder li[data-stage="${st}"] .note`).first().textContent();
		expect(await ladderText('canary') === 'passed', `canary passed, got ${await ladderText('canary')}`);
		expect(await ladderText('ramp') === 'rolled back here', `ramp rolled back here, got ${await ladderText('ramp')}`);
		expect(await ladderText('full') === 'not reached', `full not reached, got ${await ladderText('full')}`);
		expect(!/pending/.test(await page.locator('#ladder').textContent()), 'no stage pending once rolled back');
		// the fault triples latency: p95 breaches its 2x-baseline threshold
		const p95 = page.locator('#analysis tr[data-metric="inference_latency_p95"][data-stage="1"]');
		await p95.locator('.result-fail').waitFor({ timeout: T });
		const canary = await p95.locator('td[data-arm="canary"]').textContent();
		const base = await p95.locator('td[data-arm="baseline"]').textContent();
		expect(canary === '150 ms', `canary p95 150 ms, got ${canary}`);
		expect(base === '50.0 ms', `baseline p95 50.0 ms, got ${base}`);
		const er = page.locator('#analysis tr[data-metric="error_rate"][data-stage="1"]');
		const erc = await er.locator('td[data-arm="canary"]').textContent();
		expect(/^[0-9.]+%$/.test(erc) && erc !== '0.00%', `canary error rate above zero, got ${erc}`);
		expect(await er.locator('td[data-arm="baseline"]').textContent() === '0.00%', 'baseline error rate 0.00%');
		// a chart for every metric any stage gates on, the current stage's first, each with
		// both arms and its threshold: absolute as a level, relative drawn from the baseline
		const charted = await page.locator('#charts [data-chart]').evaluateAll((els) =>
			els.map((e) => e.dataset.chart));
		expect(JSON.stringify(charted) === JSON.stringify(['error_rate', 'inference_latency_p95',
			'temperature_c', 'inference_latency_p50', 'cpu_pct']), `charts follow the policy, got ${charted}`);
		const kinds = { error_rate: 'absolute', inference_latency_p50: 'absolute', cpu_pct: 'absolute',
			inference_latency_p95: 'relative', temperature_c: 'relative' };
		for (const [m, kind] of Object.entries(kinds)) {
			for (const arm of ['canary', 'baseline']) {
				const p = page.locator(`[data-chart="${m}"] path[data-arm="${arm}"]`);
				await p.waitFor({ state: 'attached', timeout: T });
				// the ramp's own gate has only the few evaluations before the breach
				const min = m === 'temperature_c' ? 1 : 2;
				expect(Number(await p.getAttribute('data-points')) >= min, `${m} ${arm} chart has points`);
			}
			const th = page.locator(`[data-chart="${m}"] path.threshold`);
			expect(await th.count() >= 1, `${m} chart draws its threshold`);
			expect(await th.first().getAttribute('data-kind') === kind, `${m} threshold is ${kind}`);
			expect(await page.locator(`[data-chart="${m}"] .nodata`).count() === 0, `${m} has data`);
		}
		expect(await page.locator('#actions button').count() === 0, 'no actions once rolled back');
		step('rolled-back');
		await page.screenshot({ path: `${env.SHOTS}/dashboard.png`, fullPage: true });
		await page.emulateMedia({ colorScheme: 'dark' });
		await page.screenshot({ path: `${env.SHOTS}/dashboard-dark.png`, fullPage: true });
		await page.emulateMedia({ colorScheme: 'light' });

		// the fleet's devices: each model's install state; the failure reason and "stuck"
		// only where the server reports them (today it does not: nothing shows, no "undefined")
		await page.locator('a[data-nav="fleet"]').click();
		const cell = page.locator('#devices tr[data-device] [data-model="invoice-ocr"]');
		await cell.first().waitFor({ timeout: T });
		expect(await cell.count() === Number(env.RAMP_DEVICES), 'every device shows its model');
		expect(await page.locator('#devices [data-model][data-state="installed"] .dev-state').first()
			.textContent() === 'installed', 'the install state shown');
		expect(await page.locator('#devices .stuck, #devices .detail').count() === 0,
			'no stuck badge or reason without the fields');
		expect(!/undefined|null|NaN/.test(await page.locator('#devices').textContent()),
			'no undefined, null or NaN in the device table');
		await placeholderFits(page);
		// with the fields the device API is gaining: a reason (as text, never markup) and a badge
		const reason = '<img src=x id=injected> no space left on device (needs 812 MB)';
		await page.route(/\/v1\/devices\?/, async (route) => {
			const r = await route.fetch();
			const j = await r.json();
			Object.assign(j.items[0].models['invoice-ocr'], { state: 'failed', detail: reason,
				detail_at: new Date(Date.now() - 120000).toISOString(), since: new Date().toISOString(),
				failures: 3, stuck: true });
			await route.fulfill({ response: r, json: j });
		});
		await page.locator('#device-selector').fill('platform=rpi-arm64');
		await page.locator('#devices-filter').click();
		const bad = page.locator('#devices tr[data-device] [data-model="invoice-ocr"][data-state="failed"]');
		await bad.waitFor({ timeout: T });
		expect(await bad.locator('.detail').textContent() === reason + ' (2m ago)',
			`the reason as text, got ${await bad.locator('.detail').textContent()}`);
		expect(await page.locator('#injected').count() === 0, 'the reason is not markup');
		expect(await bad.locator('.stuck').isVisible(), 'the stuck badge');
		expect(await bad.locator('.failures').textContent() === ' · 3 failures', 'the failure count');
		await page.screenshot({ path: `${env.SHOTS}/dashboard-fleet-devices.png`, fullPage: true });
		await page.unroute(/\/v1\/devices\?/);
		step('devices');

		// the second rollout (started by the test on "devices"), aborted at its canary
		await page.locator('a[data-nav="rollouts"]').click();
		const second = page.locator('#rollouts a[data-rollout][data-state="progressing"]');
		await second.waitFor({ timeout: T });
		await second.click();
		await stateIs(page, 'progressing');
		// promoted to 100% from the canary, then aborted: the ramp was jumped over
		await press(page, 'promote-full');
		await page.locator('#stage-name', { hasText: 'full' }).waitFor({ timeout: T });
		await press(page, 'abort');
		await stateIs(page, 'aborted');
		await page.locator('#ladder li.failed[data-stage="full"]').waitFor({ timeout: T });
		expect(await ladderText('canary') === 'promoted to 100%', `canary promoted, got ${await ladderText('canary')}`);
		expect(await ladderText('ramp') === 'skipped (promoted past)', `ramp skipped, got ${await ladderText('ramp')}`);
		expect(await ladderText('full') === 'aborted here', `full aborted here, got ${await ladderText('full')}`);
		await page.locator('#charts .panel.muted').waitFor({ timeout: T });
		await page.screenshot({ path: `${env.SHOTS}/dashboard-aborted.png`, fullPage: true });
		step('aborted');

		// a viewer, on a phone: the same page without buttons, and the fleet page
		const phone = await ctx.newPage();
		watch(phone);
		await phone.setViewportSize({ width: 390, height: 844 });
		await signIn(phone, env.RAMP_VIEWER_TOKEN);
		await phone.locator('#rollouts').waitFor({ timeout: T });
		// the default list shows rollouts of every state: the one that just rolled back is there
		const ended = phone.locator(`#rollouts a[data-rollout="${rid}"]`);
		await ended.waitFor({ timeout: 10000 });
		expect(await ended.getAttribute('data-state') === 'rolled_back', 'the rolled-back rollout listed');
		await phone.screenshot({ path: `${env.SHOTS}/dashboard-list-phone.png`, fullPage: true });
		// filtered by state and by model
		await phone.selectOption('#rollouts-state', 'progressing');
		await phone.locator('#rollouts-empty').waitFor({ timeout: T });
		expect(await ended.count() === 0, 'a progressing-only list hides it');
		await phone.selectOption('#rollouts-state', 'rolled_back');
		await ended.waitFor({ timeout: T });
		await phone.selectOption('#rollouts-model', 'invoice-ocr');
		await ended.waitFor({ timeout: T });
		expect(await phone.locator('#rollouts a[data-rollout]').count() === 1, 'one rolled-back invoice-ocr rollout');
		expect(await phone.locator('#rollouts-note').textContent() === '1 of 2 rollouts.', 'the filter counts');
		await phone.screenshot({ path: `${env.SHOTS}/dashboard-list-filtered.png`, fullPage: true });
		await phone.selectOption('#rollouts-state', 'all');
		await phone.selectOption('#rollouts-model', '');
		await ended.click();
		await stateIs(phone, 'rolled_back');
		await phone.locator('#actions-note').waitFor({ timeout: T });
		expect(await phone.locator('button[data-verb]').count() === 0, 'no verb buttons for a viewer');
		const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
		expect(wide <= 390, `the page fits a phone's width (scrollWidth ${wide})`);
		await phone.screenshot({ path: `${env.SHOTS}/dashboard-phone.png`, fullPage: true });
		await phone.locator('#charts').screenshot({ path: `${env.SHOTS}/dashboard-charts-phone.png` });
		await phone.locator('a[data-nav="fleet"]').click();
		await phone.locator('#fleet-total', { hasText: env.RAMP_DEVICES }).waitFor({ timeout: T });
		await phone.locator('#devices tr[data-device]').first().waitFor({ timeout: T });
		await phone.locator('#fleet-summary tr[data-platform="rpi-arm64"]').waitFor({ timeout: T });
		await phone.screenshot({ path: `${env.SHOTS}/dashboard-fleet.png`, fullPage: true });
		await placeholderFits(phone);
		step('viewer');
		await phone.locator('#signout').click();
		await signedOutView(phone);
		expect(await phone.evaluate(() => sessionStorage.getItem('ramp.token')) === null,
			'sign out forgets the token');
		await phone.screenshot({ path: `${env.SHOTS}/dashboard-signin-phone.png` });
		expect(problems.length === 0, `no page errors or CSP violations: ${problems.join('; ')}`);
		step('done');
	} catch (e) {
		// what the page showed when an expectation failed
		for (const [i, p] of ctx.pages().entries())
			await p.screenshot({ path: `${env.SHOTS}/dashboard-failed-${i}.png`, fullPage: true }).catch(() => {});
		throw e;
	} finally {
		await ctx.close();
	}
}

main().catch((e) => {
	process.stderr.write(`${e.stack || e}\n`);
	process.exit(1);
});
