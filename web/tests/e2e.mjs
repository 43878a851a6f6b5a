// The portal end to end in real headless Chromium (Debian's chromium, driven by playwright-core) on
// a running local consortium, with the `phr` CLI beside it. wallet/tests/portal.rs starts the four
// nodes and `phr portal`, then runs this; it can also run by hand against scripts/run-consortium.sh:
//
//   PHR_PORTAL_URL=http://127.0.0.1:8080/ PHR_NODES=http://127.0.0.1:9944,...,http://127.0.0.1:9947 \
//   PHR_BIN=~/.cache/phr-target/release/phr node web/tests/e2e.mjs
//
// The story: a patient creates an account in the browser; H1's admin onboards her in the portal;
// she uploads a FHIR Bundle through H1 (its resources registered at once, with its manifest) and
// shares her observations with a physician at H2 for one hour; the physician, in a second browser
// context, reads one through H2 and sees the chart; she revokes; the physician is refused in a
// readable sentence; her "who read what" shows his read with its receipt verified. Then interop
// both ways with the CLI, byte for byte (the CLI rebuilds the browser's Bundle from its manifest),
// and a node that forges the state proofs the browser verifies (refused, nothing sent). Each step prints
// `[portal n] ok: ...`; screenshots go to $PHR_SCREENSHOTS when it is set.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { xxhashAsHex } from '@polkadot/util-crypto';

const portal = process.env.PHR_PORTAL_URL ?? 'http://127.0.0.1:8080/';
const [H1, H2] = (process.env.PHR_NODES ?? 'http://127.0.0.1:9944,http://127.0.0.1:9945').split(',');
const phrBin = process.env.PHR_BIN ?? 'phr';
const dir = process.env.PHR_E2E_DIR ?? '/tmp/phr-portal-e2e';
const shots = process.env.PHR_SCREENSHOTS;
const chromiumPath = process.env.PHR_CHROMIUM ?? '/usr/bin/chromium';
mkdirSync(dir, { recursive: true });
if (shots) mkdirSync(shots, { recursive: true });

let step = 0;
const say = (text) => console.log(`\n[portal ${++step}] ${text}`);
const ok = (text) => console.log(`[portal ${step}] ok: ${text}`);
const pages = [];
class Failed extends Error {}
const fail = (text) => {
  throw new Failed(text);
};
/** The CLI, JSON out; a failure ends the test with its one-line error. */
function phr(wallet, node, ...args) {
  try {
    const out = execFileSync(phrBin, ['--quiet', '--json', '--wallet', join(dir, `${wallet}.json`), '--node', node, ...args], {
      env: { ...process.env, PHR_PASSPHRASE: 'cli passphrase!' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out);
  } catch (error) {
    fail(`phr ${args.join(' ')}: ${error.stderr || error.message}`);
  }
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
/** Who each wrapped data key the patient's page sends is for (`phr_putWrappedKey`), as it goes. */
const wrappedFor = [];
async function open(name, node) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  if (name === 'patient') {
    await page.routeWebSocket(/^ws:/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const request = JSON.parse(message);
        if (request.method === 'phr_putWrappedKey') wrappedFor.push(request.params[1]);
        server.send(message);
      });
      server.onMessage((message) => ws.send(message));
    });
  }
  pages.push([name, page]);
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    // A CSP violation, or anything the page logs as an error, is a defect of the portal.
    if (m.type() === 'error' && !/favicon/.test(m.text())) problems.push(`${name} console: ${m.text()}`);
  });
  await page.goto(`${portal}?node=${node}`);
  await page.getByTestId('connection').filter({ hasText: `connected to ${node}` }).waitFor({ timeout: 60000 });
  return page;
}
const shot = async (page, name) => shots && page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
/** Waits for the outcome sentence of the action just started: ok, or fail with the error shown. */
async function outcome(page, pattern, timeout = 180000) {
  const ok = page.locator('p.ok', { hasText: pattern });
  const error = page.locator('p.error');
  await Promise.race([ok.first().waitFor({ timeout }), error.first().waitFor({ timeout })]).catch(() => fail(`no outcome matching ${pattern} within ${timeout} ms`));
  if (await error.count()) fail(`the page says: ${await error.first().textContent()}`);
  return ok.first().textContent();
}
async function importAccount(page, secret, passphrase) {
  await page.getByTestId('import-secret').fill(secret);
  await page.getByTestId('import-passphrase').fill(passphrase);
  await page.getByTestId('import').click();
  await page.getByTestId('account').waitFor({ timeout: 60000 });
  return (await page.getByTestId('account').textContent()).trim();
}
async function registerKeys(page) {
  await page.getByRole('button', { name: 'Register my keys' }).click();
  await outcome(page, /keys are on chain/);
}

try {
say('A patient creates an account in the browser (H1); H1\'s admin onboards her in the portal');
const patient = await open('patient', 'H1');
await patient.getByTestId('new-passphrase').fill('patient passphrase');
await patient.getByTestId('create').click();
await patient.getByTestId('mnemonic').waitFor({ timeout: 60000 });
const eve = (await patient.getByTestId('account').textContent()).trim();
const words = (await patient.locator('[data-testid=mnemonic] code').textContent()).trim().split(/\s+/).length;
if (words !== 24) fail(`a recovery phrase of ${words} words`);
await shot(patient, '1-account');
const admin = await open('admin', 'H1');
await importAccount(admin, '//Alice', 'admin passphrase');
await admin.getByTestId('tab-Admin').click();
await admin.getByTestId('onboard-account').fill(eve);
await admin.getByTestId('onboard').click();
await outcome(admin, /is a patient of your hospital/);
await registerKeys(patient);
ok(`patient ${eve} onboarded at H1, keys registered (24-word phrase shown once)`);

say('A physician at H2 signs in through H2 (his hospital registers him as staff: physician, cardiology)');
const physician = await open('physician', 'H2');
const ferdie = await importAccount(physician, '//Ferdie', 'physician passphrase');
phr('bob', H2, 'keys', 'import', '//Bob');
phr('bob', H2, 'admin', 'staff', ferdie, '--roles', 'physician', '--department', 'cardiology', '--facility', 'H2');
await registerKeys(physician);
ok(`physician ${ferdie} registered at H2 with keys on chain`);

say('The patient uploads a FHIR Bundle through H1, and a binary file; both are encrypted in her browser');
const observation = (id, code, text, value, unit, when) => ({ resource: { resourceType: 'Observation', id, status: 'final', effectiveDateTime: when, code: { text, coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value, unit } } });
const bundle = {
  resourceType: 'Bundle', type: 'collection', entry: [
    { resource: { resourceType: 'Observation', id: 'bp1', status: 'final', effectiveDateTime: '2026-09-01T08:00:00Z', code: { text: 'Blood pressure', coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [{ code: { text: 'Systolic blood pressure', coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 142, unit: 'mmHg' } },
        { code: { text: 'Diastolic blood pressure', coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 91, unit: 'mmHg' } }] } },
    observation('g1', '2339-0', 'Glucose', 6.1, 'mmol/L', '2026-09-01T08:00:00Z'),
    observation('g2', '2339-0', 'Glucose', 5.4, 'mmol/L', '2026-10-01T08:00:00Z'),
    observation('g3', '2339-0', 'Glucose', 5.0, 'mmol/L', '2026-11-01T08:00:00Z'),
    { resource: { resourceType: 'MedicationStatement', id: 'm1', status: 'active', medicationCodeableConcept: { text: 'lisinopril 10 mg' } } },
  ],
};
const bundlePath = join(dir, 'bundle.json');
writeFileSync(bundlePath, JSON.stringify(bundle, null, 1));
const scan = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + 7) % 251));
const scanPath = join(dir, 'scan.bin');
writeFileSync(scanPath, scan);
await patient.getByTestId('tab-My records').click();
await patient.getByTestId('add-file').setInputFiles(bundlePath);
await patient.getByTestId('add').click();
await patient.locator('.busy progress').first().waitFor({ timeout: 30000 }).catch(() => fail('no progress bar while adding'));
// Five resources, registered at once, and the Bundle's manifest.
const added = await outcome(patient, /Added 6 record\(s\)/, 300000);
const ids = [...added.matchAll(/(\d+) \((\w+)\)/g)].map((m) => ({ id: m[1], type: m[2] }));
const manifestId = /(\d+) \(Bundle manifest\)/.exec(added)?.[1] ?? fail(`no Bundle manifest in: ${added}`);
const firstObservation = ids.find((x) => x.type === 'Observation').id;
await patient.getByTestId('add-file').setInputFiles(scanPath);
await patient.getByTestId('add').click();
const scanId = /Added 1 record\(s\): (\d+)/.exec(await outcome(patient, /Added 1 record\(s\)/, 180000))[1];
await patient.getByRole('button', { name: 'Refresh' }).click();
await patient.getByTestId(`open-${firstObservation}`).click();
await patient.getByTestId('record-title').filter({ hasText: 'Blood pressure' }).waitFor({ timeout: 60000 });
await shot(patient, '2-my-records');
ok(`records ${ids.map((x) => `${x.id} (${x.type})`).join(', ')} and ${scanId} (scan.bin) added through H1`);

say('She shares her observations with the physician for one hour, after reading the summary');
await patient.getByTestId('tab-Sharing').click();
await patient.getByTestId('share-account').fill(ferdie);
await patient.getByTestId('share-observation').check();
await patient.getByTestId('share-duration').selectOption({ label: '1 hour' });
await patient.getByTestId('share-review').click();
const summary = await patient.getByTestId('share-summary').textContent();
if (!/may read your observation records until/.test(summary) || !summary.includes(ferdie)) fail(`summary: ${summary}`);
await shot(patient, '3-share-summary');
await patient.getByTestId('share-sign').click();
const granted = await outcome(patient, /Grant \d+ is on chain; the keys of 4 record/);
const grantId = /Grant (\d+)/.exec(granted)[1];
ok(`grant ${grantId}: "${summary.trim().slice(0, 80)}…"`);

say('The physician, in his own browser context, reads an observation through H2 and sees the chart');
await physician.getByTestId('tab-Provider').click();
await physician.getByTestId(`open-${firstObservation}`).waitFor({ timeout: 60000 });
await physician.getByTestId(`open-${firstObservation}`).click();
await physician.getByTestId('record-title').filter({ hasText: 'Blood pressure' }).waitFor({ timeout: 60000 });
const shown = await physician.getByTestId('record-view').textContent();
if (!/142\/91 mmHg/.test(shown)) fail(`the physician's view does not show the reading: ${shown}`);
await physician.getByTestId('show-chart').click();
await physician.locator('[data-testid=chart] svg polyline').first().waitFor({ state: 'attached', timeout: 120000 });
const lines = await physician.locator('[data-testid=chart] svg polyline').count();
if (lines < 3) fail(`${lines} series in the chart (systolic, diastolic, glucose expected)`);
await shot(physician, '4-provider-chart');
ok(`record ${firstObservation} read through H2 ("142/91 mmHg"), chart with ${lines} series`);

say('The patient revokes the grant; the records are re-encrypted under new keys');
wrappedFor.length = 0;
await patient.getByTestId(`revoke-${grantId}`).click();
const revoked = await outcome(patient, /is revoked; 4 record\(s\) re-encrypted/, 300000);
// The new keys go to the patient, never to the reader just revoked: the re-keying reads the
// chain as it is once the revocation is final.
if (!wrappedFor.includes(eve)) fail(`the patient's new keys were not wrapped for her: ${wrappedFor}`);
if (wrappedFor.includes(ferdie)) fail(`a new key was wrapped for the revoked physician: ${wrappedFor}`);
ok(`${revoked.trim()} New keys wrapped for ${[...new Set(wrappedFor)].map((a) => a.slice(0, 6)).join(', ')} only`);

say('The physician tries again and is refused in a readable sentence');
await physician.getByRole('button', { name: 'Close' }).click();
await physician.getByTestId(`open-${firstObservation}`).click();
const refusal = physician.locator('p.error');
await refusal.first().waitFor({ timeout: 60000 });
const refusedText = (await refusal.first().textContent()).trim();
if (!/^Refused: no grant covers this record: ask the patient to share it with you\.$/.test(refusedText)) fail(`refusal: ${refusedText}`);
await shot(physician, '5-refused');
ok(refusedText);

say("The patient's \"who read what\" shows the physician's read, its receipt verified against the chain");
await patient.getByTestId('tab-Who read what').click();
let found = false;
for (let i = 0; i < 40 && !found; i++) {
  const rows = patient.locator('[data-testid=reads] tr', { hasText: ferdie.slice(0, 6) });
  found = (await rows.filter({ hasText: 'verified ✓' }).count()) > 0;
  if (!found) {
    await patient.waitForTimeout(3000);
    await patient.getByRole('button', { name: 'Refresh' }).click();
    await patient.locator('.busy').waitFor({ state: 'detached', timeout: 60000 }).catch(() => {});
  }
}
if (!found) fail(`no verified read by ${ferdie}: ${await patient.getByTestId('audit').textContent()}`);
if (await patient.locator('[data-testid=reads] td.error').count()) fail('a receipt failed verification');
await shot(patient, '6-who-read-what');
ok(`the read of ${ferdie} is listed with "verified ✓"`);

say('Interop: the CLI opens the browser wallet and reads what the browser added, byte for byte');
await patient.getByTestId('tab-Account').click();
const [walletDownload] = await Promise.all([patient.waitForEvent('download'), patient.getByTestId('export-wallet').click()]);
await walletDownload.saveAs(join(dir, 'eve.json'));
const env = { ...process.env, PHR_PASSPHRASE: 'patient passphrase' };
const cli = (...args) => JSON.parse(execFileSync(phrBin, ['--quiet', '--json', '--wallet', join(dir, 'eve.json'), '--node', H1, ...args], { env, encoding: 'utf8' }));
cli('record', 'get', scanId, '-o', join(dir, 'scan-by-cli.bin'));
if (!readFileSync(join(dir, 'scan-by-cli.bin')).equals(scan)) fail('the CLI read another scan.bin than the browser added');
cli('record', 'get', firstObservation, '-o', join(dir, 'bp-by-cli.json'));
const bpByCli = readFileSync(join(dir, 'bp-by-cli.json'));
await patient.getByTestId('tab-My records').click();
await patient.getByTestId(`open-${firstObservation}`).click();
const [bpDownload] = await Promise.all([patient.waitForEvent('download'), patient.getByTestId('download-record').click()]);
await bpDownload.saveAs(join(dir, 'bp-by-browser.json'));
if (!readFileSync(join(dir, 'bp-by-browser.json')).equals(bpByCli)) fail('browser and CLI decrypt different bytes of the same record');
if (JSON.stringify(JSON.parse(bpByCli)) !== JSON.stringify(JSON.parse(JSON.stringify(bundle.entry[0].resource)))) {
  // Key order may differ (the record keeps serde_json's sorted keys): compare as values.
  const sort = (v) => (Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  if (JSON.stringify(sort(JSON.parse(bpByCli))) !== JSON.stringify(sort(bundle.entry[0].resource))) fail('the record is not the Bundle\'s first resource');
}
// The Bundle the browser added, rebuilt by the CLI from the browser's manifest.
cli('record', 'export', '--bundle', manifestId, '-o', join(dir, 'bundle-by-cli.json'));
const sorted = (v) => (Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
if (JSON.stringify(sorted(JSON.parse(readFileSync(join(dir, 'bundle-by-cli.json'), 'utf8')))) !== JSON.stringify(sorted(bundle))) fail('the CLI rebuilt another Bundle than the browser added');
ok(`the CLI read records ${scanId} and ${firstObservation} as the browser added them (300000 bytes identical; the observation byte-identical in both), and rebuilt the Bundle from the browser's manifest ${manifestId} JSON-equal`);

say('Interop: the browser reads what the CLI added, byte for byte');
const note = { resourceType: 'Observation', id: 'hba1c', status: 'final', effectiveDateTime: '2026-11-20T09:00:00Z', code: { text: 'HbA1c' }, valueQuantity: { value: 6.8, unit: '%' } };
const notePath = join(dir, 'hba1c.json');
writeFileSync(notePath, JSON.stringify(note, null, 2) + '\n');
const byCli = cli('record', 'add', notePath).records[0].record;
// The portal reads at the latest finalized block it verified itself: the node's latest GRANDPA
// justification, which can trail the block the CLI saw final by a round.
for (let i = 0; i < 20 && !(await patient.getByTestId(`open-${byCli}`).count()); i++) {
  await patient.getByRole('button', { name: 'Refresh' }).click();
  await patient.waitForTimeout(1500);
}
await patient.getByTestId(`open-${byCli}`).click();
await patient.getByTestId('record-title').filter({ hasText: 'HbA1c' }).waitFor({ timeout: 60000 });
const [noteDownload] = await Promise.all([patient.waitForEvent('download'), patient.getByTestId('download-record').click()]);
await noteDownload.saveAs(join(dir, 'hba1c-by-browser.json'));
if (!readFileSync(join(dir, 'hba1c-by-browser.json')).equals(readFileSync(notePath))) fail('the browser read other bytes than the CLI added');
ok(`record ${byCli}, added by the CLI, read in the browser byte for byte`);

say('A grant that simply expires: the portal re-keys every record version keyed while it lived');
cli('grant', '--to', ferdie, '--categories', 'other', '--expires', '8s');
await patient.getByTestId('tab-Sharing').click();
let swept = '';
for (let i = 0; i < 30 && !/re-encrypted under new keys/.test(swept); i++) {
  await patient.waitForTimeout(3000);
  await patient.getByTestId('rekey-expired').click();
  swept = await outcome(patient, /nothing to re-key|re-encrypted under new keys/, 300000);
}
const sweptCount = Number(/^(\d+) record version/.exec(swept.trim())?.[1] ?? 0);
if (sweptCount < 2) fail(`the expired grant's records were not re-keyed: ${swept}`);
cli('record', 'get', scanId, '-o', join(dir, 'scan-after-expiry.bin'));
if (!readFileSync(join(dir, 'scan-after-expiry.bin')).equals(scan)) fail('the re-keyed scan does not read back');
ok(`${swept.trim()} The CLI reads the re-keyed scan byte for byte`);

say("A node that lies: every state proof with the physician's encryption key is rewritten in transit; the browser refuses to share, and nothing is sent");
// The patient's browser, in a new tab, through H1, with its WebSocket answers rewritten: each trie
// node of a `state_getReadProof` answer that proves a `Keys::KeyOf` entry gets its last byte
// changed (a forged key, or any other forged value, cannot keep the trie's hashes).
const keyOf = xxhashAsHex('Keys', 128) + xxhashAsHex('KeyOf', 128).slice(2);
const before = cli('grants').grants.length;
const liar = await patient.context().newPage();
pages.push(['liar', liar]);
let forged = 0;
await liar.routeWebSocket(/^ws:/, (ws) => {
  const server = ws.connectToServer();
  const lies = new Set();
  ws.onMessage((message) => {
    const request = JSON.parse(message);
    if (request.method === 'state_getReadProof' && request.params[0].some((k) => k.startsWith(keyOf))) lies.add(request.id);
    server.send(message);
  });
  server.onMessage((message) => {
    const answer = JSON.parse(message);
    if (lies.has(answer.id) && answer.result?.proof) {
      answer.result.proof = answer.result.proof.map((node) => node.slice(0, -2) + (node.endsWith('00') ? '01' : '00'));
      forged++;
      message = JSON.stringify(answer);
    }
    ws.send(message);
  });
});
await liar.goto(`${portal}?node=H1`);
await liar.getByTestId('connection').filter({ hasText: 'connected to H1' }).waitFor({ timeout: 60000 });
await liar.locator('input[name=passphrase][autocomplete=current-password]').fill('patient passphrase');
await liar.getByRole('button', { name: 'Unlock' }).click();
await liar.getByTestId('tab-Sharing').waitFor({ timeout: 60000 });
await liar.getByTestId('tab-Sharing').click();
await liar.getByTestId('share-account').fill(ferdie);
await liar.getByTestId('share-observation').check();
await liar.getByTestId('share-review').click();
await liar.getByTestId('share-sign').click();
const lieShown = liar.locator('p.error');
await lieShown.first().waitFor({ timeout: 120000 }).catch(() => fail('no error shown for the forged proof'));
const lieText = (await lieShown.first().textContent()).trim();
if (!/does not verify/.test(lieText)) fail(`the forged proof was answered with: ${lieText}`);
if (forged === 0) fail('the lying node never had a key proof to forge');
if (cli('grants').grants.length !== before) fail('a grant was sent through the lying node');
await shot(liar, '7-lying-node');
ok(`"${lieText.slice(0, 110)}…"; ${forged} forged answer(s), no grant sent`);

} catch (error) {
  console.error(`[portal ${step}] FAILED: ${error instanceof Failed ? error.message : error.stack}`);
  // The sentences each page showed, for the one who debugs it.
  for (const [name, page] of pages) {
    const shown = await page.locator('p.error, p.ok').allTextContents().catch(() => []);
    if (shown.length) console.error(`[portal ${step}] ${name} shows: ${shown.join(' | ')}`);
  }
  // What each browser context showed when it failed, for the one who debugs it.
  await Promise.all(pages.map(([name, page]) => page.screenshot({ path: join(dir, `failed-${name}.png`), fullPage: true }).catch(() => {})));
  process.exit(1);
}
await browser.close();
if (problems.length) {
  console.error(`[portal] FAILED: the pages reported errors:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`\n[portal] all ${step} steps ok`);
