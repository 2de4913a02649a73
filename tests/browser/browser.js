// tests/browser/browser.js - the web view in real headless Chromium
// (Debian's chromium driven by playwright-core), run by tests/browser/browser.sh.
//
// Environment: KYSO_WEB_URL (the web view), ADMIN_ADDR/ADMIN_PASS (sees every
// account), USER_ADDR/USER_PASS/USER_ACCOUNT (sees only their own), CHROMIUM
// (the browser), OUT (screenshots, the CSV, tap.counts), TAP_OFFSET (number of
// the first test minus one).  Prints TAP lines without a plan and writes
// "RUN FAILED" (the counts) to OUT/tap.counts for the wrapper.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const base = process.env.KYSO_WEB_URL;
const out = process.env.OUT;
let n = Number(process.env.TAP_OFFSET || 0);
let run = 0, failed = 0;

function ok(cond, what, detail) {
	n++;
	run++;
	if (cond) {
		console.log(`ok ${n} - ${what}`);
	} else {
		failed++;
		console.log(`not ok ${n} - ${what}`);
		if (detail !== undefined)
			console.log(String(detail).split('\n').map((l) => '# ' + l).join('\n'));
	}
	return cond;
}
function diag(s) { console.log(String(s).split('\n').map((l) => '# ' + l).join('\n')); }

// Vietnamese search folding as the server does it (webui/fold.h), for the test's own checks.
function fold(s) {
	return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase()
		.replace(/[^a-z0-9]+/g, ' ').trim();
}

// A small RFC 4180 parser.
function parseCsv(text) {
	const rows = [];
	let row = [], cell = '', i = 0, q = false;
	while (i < text.length) {
		const c = text[i];
		if (q) {
			if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 2; continue; }
			if (c === '"') { q = false; i++; continue; }
			cell += c; i++; continue;
		}
		if (c === '"') { q = true; i++; continue; }
		if (c === ',') { row.push(cell); cell = ''; i++; continue; }
		if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i += 2; continue; }
		if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; continue; }
		cell += c; i++;
	}
	if (cell !== '' || row.length > 0) { row.push(cell); rows.push(row); }
	return rows;
}

// Every page: a dialog (alert/confirm/prompt) or a CSP violation means hostile
// data ran or tried to; the init script records them where the test can look.
const watchScript = `
	window.__kysoXss = 0; window.__kysoCsp = [];
	for (const f of ['alert', 'confirm', 'prompt'])
		window[f] = function () { window.__kysoXss++; };
	document.addEventListener('securitypolicyviolation', function (e) {
		window.__kysoCsp.push(e.violatedDirective + ' ' + e.blockedURI);
	});
`;

async function newContext(browser, dialogs) {
	const ctx = await browser.newContext({ acceptDownloads: true, locale: 'vi-VN', viewport: { width: 1300, height: 900 } });
	await ctx.addInitScript(watchScript);
	ctx.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); }));
	return ctx;
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(out, name + '.png'), fullPage: true });
}

// Nothing ran: no dialog, the page's own flags untouched, no CSP violation,
// the only script is ours, no element a payload would have made.
async function nothingRan(page, dialogs, where) {
	const r = await page.evaluate(() => ({
		xss: window.__kysoXss,
		csp: window.__kysoCsp,
		scripts: Array.from(document.scripts).map((s) => s.getAttribute('src') || ('inline:' + s.textContent.slice(0, 40))),
		imgs: document.querySelectorAll('img').length,
		svgOnload: document.querySelectorAll('svg[onload], [onerror], [onload]').length,
	}));
	ok(dialogs.length === 0 && r.xss === 0, `${where}: no script from the data ran (no dialog)`,
		`dialogs: ${JSON.stringify(dialogs)} xss: ${r.xss}`);
	ok(r.csp.length === 0, `${where}: no Content-Security-Policy violation`, JSON.stringify(r.csp));
	ok(r.scripts.length === 1 && r.scripts[0] === '/static/kyso.js' && r.imgs === 0 && r.svgOnload === 0,
		`${where}: the only script is /static/kyso.js, no element made by a payload`, JSON.stringify(r));
}

async function login(page, addr, pass) {
	await page.goto(base + '/login');
	await page.fill('#address', addr);
	await page.fill('#password', pass);
	await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
}

// The other origin: a page on another port whose forms post to the web view.
function evilServer() {
	return new Promise((resolve) => {
		const srv = http.createServer((req, res) => {
			const u = new URL(req.url, 'http://x');
			const csrf = (u.searchParams.get('csrf') || '').replace(/[^0-9a-f]/g, '');
			let form;
			if (u.pathname === '/logout')
				form = `<form method="post" action="${base}/logout"><input type="hidden" name="csrf" value="${csrf}"><button>go</button></form>`;
			else
				form = `<form method="post" action="${base}/login"><input type="hidden" name="csrf" value="${csrf}">` +
					`<input name="address" value="${process.env.ADMIN_ADDR}"><input name="password" value="x"><button>go</button></form>`;
			res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
			res.end(`<!doctype html><title>elsewhere</title>${form}`);
		});
		srv.listen(0, '127.0.0.1', () => resolve(srv));
	});
}

async function main() {
	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'], timeout: 60000 });
	const dialogs = [];
	const ctx = await newContext(browser, dialogs);
	const page = await ctx.newPage();
	page.setDefaultTimeout(15000);
	const evil = await evilServer();
	const evilBase = `http://127.0.0.1:${evil.address().port}`;
	let otherMessage = null;

	try {
		// --- login (Vietnamese by default) ---
		await page.goto(base + '/');
		ok(new URL(page.url()).pathname === '/login', 'without a session / leads to the login page', page.url());
		ok((await page.getAttribute('html', 'lang')) === 'vi' && (await page.textContent('h1')).includes('Đăng nhập'),
			'the login page is in Vietnamese by default');
		ok((await page.textContent('.lang')).replace(/\s+/g, ' ').includes('Tiếng Việt | English'), 'the header carries "Tiếng Việt | English"');
		await shot(page, '01-login');
		await login(page, process.env.ADMIN_ADDR, 'not-the-password');
		ok(new URL(page.url()).pathname === '/login' && (await page.isVisible('.flash')), 'a wrong password is refused with a message');
		await shot(page, '02-login-failed');
		await login(page, process.env.ADMIN_ADDR, process.env.ADMIN_PASS);
		ok(new URL(page.url()).pathname === '/log', 'the admin logs in (IMAP LOGIN) and lands on the log', page.url());
		const nrows = await page.locator('table.log tbody tr').count();
		ok(nrows > 0 && nrows <= 50, `the log shows a first page of rows (${nrows})`);
		await shot(page, '03-log');

		// --- hostile rows render as text ---
		const text = await page.textContent('table.log');
		ok(text.includes('<script>alert(1)</script>'), 'a <script> subject is shown as text');
		ok(text.includes('<img src=x onerror=alert(1)>'), 'an <img onerror> name or file name is shown as text');
		await nothingRan(page, dialogs, 'log page with hostile rows');

		// newest first
		const times = await page.locator('table.log td.time').allTextContents();
		ok(times.length > 1 && times.every((t, i) => i === 0 || times[i - 1].trim() >= t.trim()), 'rows are newest first', times.slice(0, 5).join(' | '));

		// keyset pagination: the next page goes on with older rows, and back
		const hrefs1 = await page.locator('table.log td.subject a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
		await Promise.all([page.waitForNavigation(), page.click('a[rel=next]')]);
		const hrefs2 = await page.locator('table.log td.subject a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
		const times2 = await page.locator('table.log td.time').allTextContents();
		ok(/[?&]before=\d+\.\d+/.test(page.url()) && hrefs2.length > 0 && !hrefs2.some((h) => hrefs1.includes(h)) &&
			times2[0].trim() <= times[times.length - 1].trim(), `the next page goes on with older rows (${hrefs2.length})`, page.url());
		await shot(page, '03b-log-page2');
		await Promise.all([page.waitForNavigation(), page.click('a[rel=first]')]);
		ok(!/before=/.test(page.url()) && (await page.locator('table.log td.subject a').first().getAttribute('href')) === hrefs1[0],
			'the first-page link leads back', page.url());

		// --- a hostile message's own page ---
		const hostileLink = page.locator('table.log tr', { hasText: '<script>alert(1)</script>' }).locator('td.subject a').first();
		if (await hostileLink.count() > 0) {
			await Promise.all([page.waitForNavigation(), hostileLink.click()]);
			ok(/^\/message\/\d+$/.test(new URL(page.url()).pathname), 'the hostile message opens', page.url());
			await nothingRan(page, dialogs, 'hostile message page');
			await shot(page, '04-message-hostile');
			await page.goto(base + '/log');
		} else {
			ok(false, 'a hostile row is on the first page (mklog --hostile puts the 5 newest there)');
		}

		// --- filter by verdict (kyso.js submits the form when a select changes) ---
		await Promise.all([page.waitForURL(/verdict=invalid/), page.selectOption('select[name=verdict]', 'invalid')]);
		// (the verdict badges; .att is the signed attachments' badge beside them)
		const badges = await page.locator('table.log td.verdict .badge:not(.att)').evaluateAll((els) => els.map((e) => e.className));
		ok(badges.length > 0 && badges.every((c) => c.split(' ').includes('v-invalid')), `filter by verdict: ${badges.length} rows, all invalid`, badges.join(','));
		ok((await page.inputValue('select[name=verdict]')) === 'invalid', 'the filter keeps its choice');
		const reasonItems = await page.locator('table.log ul.reasons li').count();
		ok(reasonItems > 0, 'invalid rows show their reasons in words');
		await shot(page, '05-log-invalid');

		// --- CSV export of the current filter ---
		const [dl] = await Promise.all([page.waitForEvent('download'), page.click('a.csv')]);
		const csvPath = path.join(out, 'export.csv');
		await dl.saveAs(csvPath);
		const csvText = fs.readFileSync(csvPath, 'utf8');
		const rows = parseCsv(csvText).filter((r) => r.length > 1);
		const header = rows.shift() || [];
		const vcol = header.findIndex((h) => h.trim().toLowerCase() === 'verdict');
		ok(new URL(dl.url()).pathname === '/log.csv' && new URL(dl.url()).searchParams.get('verdict') === 'invalid',
			'the CSV link keeps the filter', dl.url());
		ok(vcol >= 0 && rows.length >= badges.length && rows.every((r) => r[vcol] === 'invalid'),
			`the CSV has the filtered rows (${rows.length}), every one invalid`, header.join(','));
		const risky = rows.flat().filter((c) => /^[=+\-@\t\r]/.test(c));
		ok(risky.length === 0, 'no CSV cell starts a spreadsheet formula', risky.slice(0, 3).join(' | '));

		// --- signed attachments: an unsigned mail with a validly signed PDF ---
		await page.goto(base + '/log');
		await Promise.all([page.waitForURL(/verdict=unsigned/), page.selectOption('select[name=verdict]', 'unsigned')]);
		await Promise.all([page.waitForURL(/att=valid/), page.selectOption('select[name=att]', 'valid')]);
		const attRows = await page.locator('table.log tbody tr').evaluateAll((trs) => trs.map((tr) => {
			const v = tr.querySelector('td.verdict .badge:not(.att)'), a = tr.querySelector('td.verdict .badge.att');
			return { v: v ? v.className + '|' + v.textContent : '', a: a ? a.className + '|' + a.textContent : '',
				shown: a ? a.getBoundingClientRect().width > 0 : false };
		}));
		ok(attRows.length > 0 && attRows.every((r) => r.v === 'badge v-unsigned|Không có chữ ký số' &&
			r.a === 'badge att a-valid|Tệp đính kèm: hợp lệ' && r.shown),
			`unsigned mail with a signed PDF: ${attRows.length} rows show "Tệp đính kèm: hợp lệ" beside the verdict`,
			JSON.stringify(attRows.slice(0, 3)));
		await shot(page, '05b-log-attachment-valid');

		// --- search without accents ---
		await page.goto(base + '/log');
		const names = await page.locator('table.log td.addr .name').allTextContents();
		const name = names.find((s) => /[\u00c0-\u1ef9]/.test(s) && !/[<>"]/.test(s) && fold(s).split(' ').length >= 2);
		if (ok(name !== undefined, 'the log shows a sender with a Vietnamese name', names.slice(0, 5).join(' | '))) {
			const q = fold(name);
			await page.fill('input[name=q]', q);
			await Promise.all([page.waitForURL(/[?&]q=/), page.press('input[name=q]', 'Enter')]);
			const found = await page.locator('table.log tbody tr').evaluateAll((trs) => trs.map((tr) => tr.innerText));
			ok(found.length > 0 && found.some((t) => t.includes(name)), `"${q}" finds "${name}" (${found.length} rows)`);
			const words = q.split(' ');
			const bad = found.filter((t) => !words.every((w) => fold(t).includes(w)));
			ok(bad.length === 0, 'every row found carries the searched words', bad.slice(0, 2).join('\n'));
			ok((await page.inputValue('input[name=q]')) === q, 'the search box keeps the text');
			await shot(page, '06-search');
		}

		// --- open a message ---
		await page.goto(base + '/log?direction=in&verdict=valid');
		await Promise.all([page.waitForNavigation(), page.locator('table.log td.subject a').first().click()]);
		ok(/^\/message\/\d+$/.test(new URL(page.url()).pathname), 'a message opens from the log', page.url());
		ok(await page.isVisible('section.summary') && await page.isVisible('section.sigs') && await page.isVisible('section.headers'),
			'the message page shows summary, headers and signatures');
		await shot(page, '07-message');
		// an outgoing one shows its journal steps
		await page.goto(base + '/log?direction=out');
		if (await page.locator('table.log td.subject a').count() > 0) {
			await Promise.all([page.waitForNavigation(), page.locator('table.log td.subject a').first().click()]);
			ok(await page.locator('section.steps tbody tr').count() > 0, 'an outgoing message shows its sending steps');
			await shot(page, '08-message-out');
		}

		// a message of another account than the non-admin's, for later
		await page.goto(base + '/log');
		const otherRow = page.locator('table.log tbody tr').filter({ hasNot: page.locator(`td:text-is("${process.env.USER_ACCOUNT}")`) });
		if (await otherRow.count() > 0)
			otherMessage = await otherRow.first().locator('td.subject a').getAttribute('href');

		// --- switch language ---
		await Promise.all([page.waitForNavigation(), page.click('.lang a[hreflang=en]')]);
		ok((await page.getAttribute('html', 'lang')) === 'en' && (await page.textContent('header.top nav')).includes('Log'),
			'the switch shows the page in English');
		await page.goto(base + '/overview');
		ok((await page.getAttribute('html', 'lang')) === 'en' && (await page.textContent('h1')).includes('Overview'),
			'English stays for the next pages');
		ok(await page.locator('figure.chart svg rect').count() > 0, 'the overview draws the server-side SVG bars');
		await shot(page, '09-overview-en');
		await page.goto(base + '/accounts');
		ok(await page.locator('table.accounts tbody tr').count() > 0, 'the accounts page lists accounts');
		await shot(page, '10-accounts-en');
		await Promise.all([page.waitForNavigation(), page.click('.lang a[hreflang=vi]')]);
		ok((await page.getAttribute('html', 'lang')) === 'vi', 'and back to Vietnamese');

		// --- a cross-site form post is refused ---
		const csrf = await page.getAttribute('form.logout input[name=csrf]', 'value');
		const evilPage = await ctx.newPage();
		await evilPage.goto(`${evilBase}/logout?csrf=${csrf}`);
		const [resp] = await Promise.all([evilPage.waitForResponse((r) => r.url() === base + '/logout'), evilPage.click('button')]);
		ok(resp.status() === 403, `a logout posted from another origin (even with the token) is refused: ${resp.status()}`);
		await evilPage.goto(`${evilBase}/login?csrf=${csrf}`);
		const [resp2] = await Promise.all([evilPage.waitForResponse((r) => r.url() === base + '/login'), evilPage.click('button')]);
		ok(resp2.status() === 403, `a login posted from another origin is refused: ${resp2.status()}`);
		await evilPage.close();
		await page.goto(base + '/log');
		ok(new URL(page.url()).pathname === '/log', 'the session survived the cross-site posts');

		// --- log out ---
		await Promise.all([page.waitForNavigation(), page.click('form.logout button')]);
		ok(new URL(page.url()).pathname === '/login', 'logout leads to the login page', page.url());
		await page.goto(base + '/log');
		ok(new URL(page.url()).pathname === '/login', 'after logout the log needs a login again', page.url());
		await shot(page, '11-logged-out');
	} catch (e) {
		ok(false, 'admin session ran to the end', e.stack);
		await shot(page, 'zz-admin-error').catch(() => {});
	}

	// --- a non-admin ---
	const dialogs2 = [];
	const ctx2 = await newContext(browser, dialogs2);
	const p2 = await ctx2.newPage();
	p2.setDefaultTimeout(15000);
	try {
		await login(p2, process.env.USER_ADDR, process.env.USER_PASS);
		ok(new URL(p2.url()).pathname === '/log', 'a non-admin logs in', p2.url());
		const accts = await p2.locator('table.log tbody tr td:nth-child(3)').allTextContents();
		ok(accts.length > 0 && accts.every((a) => a.trim() === process.env.USER_ACCOUNT),
			`the non-admin sees only their own account (${accts.length} rows)`, [...new Set(accts)].join(','));
		ok(await p2.locator('select[name=account]').count() === 0, 'the non-admin gets no account choice');
		await shot(p2, '12-user-log');
		if (ok(otherMessage !== null, 'the admin saw a message of another account')) {
			const r = await p2.goto(base + otherMessage);
			ok(r.status() === 403 || r.status() === 404, `the non-admin cannot open it by URL: ${r.status()}`);
			ok(!(await p2.content()).includes('section class="sigs"'), 'and sees nothing of it');
			await shot(p2, '13-user-forbidden');
		}
		await nothingRan(p2, dialogs2, 'non-admin pages');
	} catch (e) {
		ok(false, 'non-admin session ran to the end', e.stack);
		await shot(p2, 'zz-user-error').catch(() => {});
	}
	await browser.close();
	evil.close();
}

const timer = setTimeout(() => {
	ok(false, 'the browser test finished within 240 s');
	fs.writeFileSync(path.join(out, 'tap.counts'), `${run} ${failed}\n`);
	process.exit(1);
}, 240000);

main().catch((e) => ok(false, 'the browser started and the test ran', e.stack)).finally(() => {
	clearTimeout(timer);
	fs.writeFileSync(path.join(out, 'tap.counts'), `${run} ${failed}\n`);
});
