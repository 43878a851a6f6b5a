// The portal's views: Account, My records, Sharing, Who read what, Provider, Auditor, Admin.
// Preact with htm (tagged templates: no JSX build step, no inline scripts or styles, so the strict
// Content-Security-Policy `phr portal` sets holds). Every action shows a progress line and ends in
// one sentence; decrypted records live only in the component that shows them and are dropped
// when it closes.

import { h, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { web3Accounts, web3Enable } from '@polkadot/extension-dapp';
import { Session, type NodeInfo } from './chain';
import type { Anchor, Pinned } from './verified';
import { describe } from './errors';
import * as keys from './keys';
import * as phr from './phr';
import { CATEGORY_NAMES, exportBundle, isManifest, manifestEntries, rebuildBundle } from './bundle';
import { categoryLabel, numericSeries, summarize } from './fhir';
import { lineChart } from './chart';

const html = htm.bind(h);

type Busy = { text: string; fraction?: number } | null;
type Outcome = { ok: boolean; text: string } | null;

/** Runs an action with a progress line and one sentence at the end. */
function useAction() {
  const [busy, setBusy] = useState<Busy>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const run = async <T,>(label: string, action: (progress: phr.Progress) => Promise<T>, done?: (value: T) => string): Promise<T | undefined> => {
    setOutcome(null);
    setBusy({ text: label });
    try {
      const value = await action((text, fraction) => setBusy({ text, fraction }));
      if (done) setOutcome({ ok: true, text: done(value) });
      return value;
    } catch (error) {
      setOutcome({ ok: false, text: describe(error) });
      return undefined;
    } finally {
      setBusy(null);
    }
  };
  const view = html`
    ${busy && html`<div class="busy" role="status"><span>${busy.text}…</span>
      ${busy.fraction !== undefined ? html`<progress max="1" value=${busy.fraction}></progress>` : html`<progress></progress>`}</div>`}
    ${outcome && html`<p class=${outcome.ok ? 'ok' : 'error'} role=${outcome.ok ? 'status' : 'alert'}>${outcome.text}</p>`}`;
  return { run, view, busy: busy !== null };
}

const short = (account: string) => (account ? `${account.slice(0, 6)}…${account.slice(-6)}` : '');
const when = (ms: number) => new Date(ms).toLocaleString();
const download = (name: string, bytes: Uint8Array | string, type = 'application/octet-stream') => {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};
const readFile = (file: File) => file.arrayBuffer().then((b) => new Uint8Array(b));

function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return html`<section><h2>${title}</h2>${children}</section>`;
}

// ---- Account ----

function AccountView({ vault, setVault, s }: { vault: keys.Vault | null; setVault: (v: keys.Vault | null) => void; s: Session }) {
  const { run, view, busy } = useAction();
  const [mnemonic, setMnemonic] = useState('');
  const [stored, setStored] = useState(keys.storedAccounts());
  const [onChain, setOnChain] = useState<string>('');
  const [extensions, setExtensions] = useState<{ address: string; name?: string }[]>([]);
  const form = (e: Event) => Object.fromEntries(new FormData(e.target as HTMLFormElement)) as Record<string, any>;

  useEffect(() => {
    if (vault) phr.keysOnChain(s, vault).then(setOnChain).catch(() => setOnChain(''));
  }, [vault, s]);

  if (vault) {
    return html`<${Section} title="Your account">
      ${mnemonic && html`<p class="warning" data-testid="mnemonic">Write down your recovery phrase; it is shown only once and is the only way to recover this account: <code>${mnemonic}</code></p>`}
      <p>Account <code data-testid="account">${vault.account}</code></p>
      <p>Keys on chain: <strong data-testid="keys-state">${onChain === 'registered' ? 'registered' : onChain === 'outdated' ? 'out of date' : onChain === 'none' ? 'not registered yet' : '…'}</strong></p>
      ${onChain === 'none' && html`<p class="hint">Once a hospital admin has onboarded you (patients) or registered you (staff), register your keys so that records can be shared with you.</p>`}
      <div class="row">
        <button disabled=${busy} onClick=${() => run('Registering your keys', (progress) => phr.registerKeys({ s, vault, progress }), () => { setOnChain('registered'); return 'Your encryption and request keys are on chain.'; })}>Register my keys</button>
        <button disabled=${busy || onChain === 'none' || onChain === ''} onClick=${() => run('Rotating your keys', (progress) => phr.rotateKeys({ s, vault, progress }), (epoch) => `Keys rotated to epoch ${epoch}; your records' keys are wrapped for the new key.`)}>Rotate my keys</button>
        <button onClick=${() => download(`phr-wallet-${vault.account.slice(0, 8)}.json`, keys.storedFile(vault.account) ?? '', 'application/json')} data-testid="export-wallet">Download wallet file (for the phr CLI)</button>
        <button class="secondary" onClick=${() => { keys.lock(vault); setVault(null); }}>Lock</button>
      </div>
      ${view}
    <//>`;
  }

  return html`
    <${Section} title="Create an account">
      <form onSubmit=${(e: Event) => { e.preventDefault(); const f = form(e); run('Creating your account (deriving the key of your passphrase)', () => keys.createWallet(f.passphrase), ({ vault: v, mnemonic: m }) => { setMnemonic(m); setVault(v); return `Account ${v.account} created.`; }); }}>
        <label>Passphrase (protects the keys in this browser) <input type="password" name="passphrase" autocomplete="new-password" required minlength="8" data-testid="new-passphrase" /></label>
        <button type="submit" disabled=${busy} data-testid="create">Create account</button>
      </form>
    <//>
    ${stored.length > 0 && html`<${Section} title="Unlock">
      <form onSubmit=${(e: Event) => { e.preventDefault(); const f = form(e); run('Unlocking', () => keys.unlock(f.account, f.passphrase), (v) => { setVault(v); return `Unlocked ${v.account}.`; }); }}>
        <label>Account <select name="account">${stored.map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
        <label>Passphrase <input type="password" name="passphrase" autocomplete="current-password" required /></label>
        <button type="submit" disabled=${busy}>Unlock</button>
        <button type="button" class="secondary" onClick=${() => { const a = (document.querySelector('select[name=account]') as HTMLSelectElement).value; if (confirm(`Forget the wallet of ${a} in this browser? Without its recovery phrase or wallet file the keys are lost.`)) { keys.forget(a); setStored(keys.storedAccounts()); } }}>Forget…</button>
      </form>
    <//>`}
    <${Section} title="Import an account">
      <form onSubmit=${(e: Event) => { e.preventDefault(); const f = form(e); run('Importing', () => keys.importSecret(f.secret, f.passphrase), (v) => { setVault(v); return `Imported ${v.account}.`; }); }}>
        <label>Recovery phrase or secret URI <input type="password" name="secret" required autocomplete="off" data-testid="import-secret" /></label>
        <label>New passphrase <input type="password" name="passphrase" required minlength="8" autocomplete="new-password" data-testid="import-passphrase" /></label>
        <button type="submit" disabled=${busy} data-testid="import">Import</button>
      </form>
      <form onSubmit=${async (e: Event) => { e.preventDefault(); const f = form(e); const text = await (f.file as File).text(); run('Opening the wallet file (this takes a few seconds)', () => keys.importWalletFile(text, f.passphrase), (v) => { setVault(v); return `Imported ${v.account} from the phr wallet file.`; }); }}>
        <label>phr wallet file <input type="file" name="file" accept=".json,application/json" required /></label>
        <label>Its passphrase <input type="password" name="passphrase" required /></label>
        <button type="submit" disabled=${busy}>Import wallet file</button>
      </form>
      <form onSubmit=${async (e: Event) => { e.preventDefault(); const f = form(e); const text = await (f.file as File).text(); run('Opening the keystore', () => keys.importKeystoreJson(text, f.password, f.passphrase), (v) => { setVault(v); return `Imported ${v.account} from the JSON keystore.`; }); }}>
        <label>polkadot.js JSON keystore <input type="file" name="file" accept=".json,application/json" required /></label>
        <label>Its password <input type="password" name="password" required /></label>
        <label>New passphrase <input type="password" name="passphrase" required minlength="8" /></label>
        <button type="submit" disabled=${busy}>Import keystore</button>
      </form>
      <div class="row">
        <button class="secondary" onClick=${() => run('Asking browser extensions', async () => { const found = await web3Enable('PHR portal'); if (found.length === 0) throw new Error('no browser wallet extension (polkadot.js, Talisman, SubWallet) is installed or allowed for this page'); return web3Accounts(); }, (list) => { setExtensions(list.map((a) => ({ address: a.address, name: a.meta.name }))); return `${list.length} account(s) offered by your browser extensions.`; })}>Use a browser extension…</button>
      </div>
      ${extensions.length > 0 && html`<form onSubmit=${(e: Event) => { e.preventDefault(); const f = form(e); run('Preparing keys for the extension account', () => keys.useExtensionAccount(f.address, f.passphrase), (v) => { setVault(v); return `The extension signs for ${v.account}; its encryption keys are kept in this browser.`; }); }}>
        <label>Account <select name="address">${extensions.map((a) => html`<option value=${a.address}>${a.name ?? ''} ${a.address}</option>`)}</select></label>
        <label>Passphrase for its encryption keys <input type="password" name="passphrase" required minlength="8" /></label>
        <button type="submit">Use this account</button>
      </form>`}
    <//>
    ${view}`;
}

// ---- Records: one opened record, and the chart of observations ----

function RecordView({ s, vault, row, purpose = 'treatment', onClose }: { s: Session; vault: keys.Vault; row: phr.RecordRow; purpose?: 'treatment' | 'emergency'; onClose: () => void }) {
  const [plain, setPlain] = useState<Uint8Array | null>(null);
  const [basis, setBasis] = useState('');
  const { run, view } = useAction();
  useEffect(() => {
    run(`Opening record ${row.id}`, (progress) => phr.read({ s, vault, progress }, row.id, purpose)).then((r) => {
      if (r) {
        setPlain(r.plain);
        setBasis(r.basis);
      }
    });
    // Decrypted data is dropped when the view closes.
    return () => setPlain((p) => (p?.fill(0), null));
  }, [row.id]);
  let resource: any = null;
  try {
    resource = plain ? JSON.parse(new TextDecoder().decode(plain)) : null;
  } catch {
    resource = null;
  }
  const summary = resource && resource.resourceType ? summarize(resource) : null;
  return html`<div class="record" data-testid="record-view">
    <div class="row"><strong>Record ${String(row.id)}</strong> <span class="muted">${categoryLabel(row.category)}, version ${row.version}${basis && `, read as ${basis}`}</span>
      <button class="secondary" onClick=${onClose}>Close</button>
      ${plain && html`<button class="secondary" data-testid="download-record" onClick=${() => download(`record-${row.id}${summary ? '.json' : '.bin'}`, plain)}>Download</button>`}</div>
    ${summary && html`<h3 data-testid="record-title">${summary.title}</h3><p class="muted">${summary.subtitle}</p>
      <dl>${summary.rows.map((r) => html`<dt>${r.label}</dt><dd>${r.value}</dd>`)}</dl>`}
    ${plain && !summary && html`<p>${plain.length} bytes (not a FHIR resource): download it to open it.</p>`}
    ${view}
  </div>`;
}

function ChartOf({ s, vault, rows }: { s: Session; vault: keys.Vault; rows: phr.RecordRow[] }) {
  const [svg, setSvg] = useState('');
  const { run, view } = useAction();
  const ref = useRef<HTMLDivElement>(null);
  const load = () => run('Decrypting your observations for the chart', async (progress) => {
    const resources: any[] = [];
    for (const [i, r] of rows.entries()) {
      progress(`Decrypting observation ${i + 1} of ${rows.length}`, i / rows.length);
      const { plain } = await phr.read({ s, vault }, r.id);
      try {
        resources.push(JSON.parse(new TextDecoder().decode(plain)));
      } catch {
        // not JSON: not charted
      }
      plain.fill(0);
    }
    // One chart per unit: mmHg and mmol/L on one axis would flatten one of them.
    const byUnit = new Map<string, ReturnType<typeof numericSeries>>();
    for (const [name, series] of numericSeries(resources)) {
      if (!byUnit.has(series.unit)) byUnit.set(series.unit, new Map());
      byUnit.get(series.unit)!.set(name, series);
    }
    return [...byUnit.values()].map((group) => lineChart(group, { height: 220 })).join('');
  }).then((markup) => markup !== undefined && setSvg(markup || '<p>No numeric observations to chart.</p>'));
  useEffect(() => {
    // The chart's markup escapes every text from the records (chart.ts); it is SVG, no script.
    if (ref.current) ref.current.innerHTML = svg;
  }, [svg]);
  useEffect(() => () => setSvg(''), []);
  return html`<div>
    ${!svg && html`<button onClick=${load} data-testid="show-chart">Chart of my observations</button>`}
    <div ref=${ref} class="chart" data-testid="chart"></div>${view}</div>`;
}

function RecordList({ s, vault, rows, purpose, children }: { s: Session; vault: keys.Vault; rows: phr.RecordRow[]; purpose?: 'treatment' | 'emergency'; children?: ComponentChildren }) {
  const [open, setOpen] = useState<phr.RecordRow | null>(null);
  const groups = useMemo(() => CATEGORY_NAMES.map((c) => [c, rows.filter((r) => r.category === c && !r.erased)] as const).filter(([, list]) => list.length), [rows]);
  return html`<div>
    ${groups.length === 0 && html`<p class="muted">No records.</p>`}
    ${groups.map(([category, list]) => html`<div class="group"><h3>${categoryLabel(category)}</h3>
      <ul>${list.map((r) => html`<li><button class="link" data-testid=${`open-${r.id}`} onClick=${() => setOpen(r)}>Record ${String(r.id)}</button>
        <span class="muted">${r.size} bytes, version ${r.version}${r.current ? '' : ' (superseded)'}, by ${r.author === r.patient ? 'the patient' : short(r.author)}</span></li>`)}</ul></div>`)}
    ${open && html`<${RecordView} key=${String(open.id)} s=${s} vault=${vault} row=${open} purpose=${purpose} onClose=${() => setOpen(null)} />`}
    ${children}
  </div>`;
}

// ---- Patient ----

function MyRecords({ s, vault }: { s: Session; vault: keys.Vault }) {
  const [rows, setRows] = useState<phr.RecordRow[]>([]);
  const { run, view, busy } = useAction();
  const refresh = () => phr.records(s, vault.account).then(setRows).catch(() => setRows([]));
  useEffect(() => void refresh(), [s, vault]);
  const add = async (e: Event) => {
    e.preventDefault();
    const file = (new FormData(e.target as HTMLFormElement).get('file') as File | null);
    if (!file || file.size === 0) return;
    if (file.size > 64 * 1024 * 1024) return void run('Checking the file', async () => { throw new Error('files over 64 MiB are added with the phr CLI (it streams them)'); });
    const bytes = await readFile(file);
    await run('Adding', (progress) => phr.addFile({ s, vault, progress }, bytes), (r) =>
      `Added ${r.added.length} record(s): ${r.added.map((a) => `${a.record} (${a.resourceType})`).join(', ')}.${r.missing.length ? ` Not shared yet with ${r.missing.map(short).join(', ')} (no keys on chain).` : ''}${r.noEscrow.length ? ` Hospitals ${r.noEscrow.join(', ')} hold no break-glass share.` : ''}`);
    (e.target as HTMLFormElement).reset();
    refresh();
  };
  /** Every current record read once, by its first version's id: JSON values (FHIR resources and
   *  Bundle manifests), or why it could not be read as one. */
  const readAll = async (progress: (text: string, fraction?: number) => void) => {
    const values = new Map<bigint, any>();
    const failed = new Map<bigint, string>();
    const current = rows.filter((r) => r.current);
    for (const [i, r] of current.entries()) {
      progress(`Decrypting record ${r.id}`, i / current.length);
      try {
        const { plain } = await phr.read({ s, vault }, r.id);
        values.set(r.root, JSON.parse(new TextDecoder().decode(plain)));
      } catch (error) {
        failed.set(r.root, describe(error));
      }
    }
    return { values, failed };
  };
  const exportAll = () => run('Exporting', async (progress) => {
    const { values } = await readAll(progress);
    // Each resource keeps the fullUrl its Bundle gave it (from the Bundles' manifests).
    const fullUrls = new Map<bigint, string>();
    for (const value of values.values()) {
      if (isManifest(value)) for (const { record, fullUrl } of manifestEntries(value)) if (record !== null && fullUrl) fullUrls.set(record, fullUrl);
    }
    const resources = [...values.entries()]
      .filter(([, value]) => typeof value?.resourceType === 'string' && !isManifest(value))
      .map(([root, resource]) => ({ fullUrl: fullUrls.get(root), resource }));
    download('phr-export.json', JSON.stringify(exportBundle(resources), null, 2), 'application/fhir+json');
    return resources.length;
  }, (n) => `Exported ${n} FHIR resources as one Bundle.`);
  // Each Bundle as it was added (its type, identifier, fullUrls and requests), entries at their
  // newest version; entries that cannot be read are reported with the references they break.
  const exportBundles = () => run('Exporting Bundles', async (progress) => {
    const { values, failed } = await readAll(progress);
    const notes: string[] = [];
    let count = 0;
    for (const [root, manifest] of values) {
      if (!isManifest(manifest)) continue;
      const resources = new Map<bigint, { resource: unknown } | { reason: string }>();
      for (const { record } of manifestEntries(manifest)) {
        if (record === null) continue;
        const value = values.get(record);
        resources.set(record, value !== undefined && !isManifest(value) ? { resource: value } : { reason: failed.get(record) ?? 'not one of your current records' });
      }
      const { bundle, unresolved } = rebuildBundle(manifest, resources);
      download(`phr-bundle-${root}.json`, JSON.stringify(bundle, null, 2), 'application/fhir+json');
      count++;
      for (const u of unresolved) notes.push(` Bundle ${root} leaves out ${u.fullUrl ?? 'an entry'} (record ${u.record ?? '?'}): ${u.reason}; ${u.referencedBy.length} reference(s) to it now dangle.`);
    }
    return { count, notes };
  }, ({ count, notes }) => `Exported ${count} Bundle(s) as they were added.${notes.join('')}`);
  const erase = (r: phr.RecordRow) => confirm(`Erase record ${r.id} and all its versions? Every node purges the ciphertext; this cannot be undone.`) &&
    run('Erasing', (progress) => s.submit(vault, s.api.tx.records.erase(r.id), (t) => progress(t)), () => { refresh(); return `Record ${r.id} is erased.`; });
  const observations = rows.filter((r) => r.category === 'observation' && r.current);
  return html`
    <${Section} title="Add a record">
      <form onSubmit=${add}><label>A FHIR Bundle or resource (JSON), or any file <input type="file" name="file" data-testid="add-file" /></label>
        <button type="submit" disabled=${busy} data-testid="add">Encrypt and add</button></form>
      <p class="hint">It is encrypted in this browser; the hospital's node only ever stores ciphertext.</p>
      ${view}
    <//>
    <${Section} title="My records">
      <div class="row"><button class="secondary" onClick=${refresh}>Refresh</button><button class="secondary" onClick=${exportAll} disabled=${busy}>Export as FHIR Bundle</button><button class="secondary" onClick=${exportBundles} disabled=${busy} data-testid="export-bundles">Export Bundles as added</button></div>
      <${RecordList} s=${s} vault=${vault} rows=${rows} />
      ${rows.some((r) => !r.erased) && html`<details><summary>Erase a record…</summary><ul>${rows.filter((r) => !r.erased && r.current).map((r) => html`<li><button class="danger" onClick=${() => erase(r)}>Erase record ${String(r.id)}</button></li>`)}</ul></details>`}
      ${observations.length > 0 && html`<${ChartOf} key=${observations.map((r) => r.id).join()} s=${s} vault=${vault} rows=${observations} />`}
    <//>`;
}

const DURATIONS: [string, number][] = [['1 hour', 3_600_000], ['1 day', 86_400_000], ['7 days', 7 * 86_400_000], ['30 days', 30 * 86_400_000], ['1 year', 365 * 86_400_000]];

function Sharing({ s, vault }: { s: Session; vault: keys.Vault }) {
  const [grants, setGrants] = useState<phr.GrantRow[]>([]);
  const [kind, setKind] = useState<'account' | 'hospitalRole' | 'policy'>('account');
  const [draft, setDraft] = useState<phr.GrantForm | null>(null);
  const { run, view, busy } = useAction();
  const refresh = () => phr.grantsOf(s, vault.account).then(setGrants).catch(() => setGrants([]));
  useEffect(() => void refresh(), [s, vault]);
  const compose = (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    const list = (name: string) => String(data.get(name) ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    let grantee: phr.Grantee;
    if (kind === 'account') grantee = { kind, account: String(data.get('account')).trim() };
    else if (kind === 'hospitalRole') grantee = { kind, hospital: Number(data.get('hospital')), role: String(data.get('role')) };
    else grantee = { kind, roles: data.getAll('policyRoles').map(String), hospitals: data.get('anyHospital') ? 'all' : list('hospitals').map(Number), departments: list('departments'), facilities: list('facilities') };
    setDraft({
      grantee, categories: data.getAll('categories').map(String), records: list('records').map((r) => BigInt(r)),
      read: data.get('read') === 'on', append: data.get('append') === 'on', durationMs: Number(data.get('duration')),
    });
  };
  return html`
    <${Section} title="Share my records">
      <form onSubmit=${compose} data-testid="share-form">
        <fieldset><legend>With whom</legend>
          <label><input type="radio" name="kind" checked=${kind === 'account'} onChange=${() => setKind('account')} /> a person (account)</label>
          <label><input type="radio" name="kind" checked=${kind === 'hospitalRole'} onChange=${() => setKind('hospitalRole')} /> everyone with a role at a hospital</label>
          <label><input type="radio" name="kind" checked=${kind === 'policy'} onChange=${() => setKind('policy')} /> a policy (roles, departments, facilities)</label>
          ${kind === 'account' && html`<label>Account <input name="account" required placeholder="5F…" data-testid="share-account" /></label>`}
          ${kind === 'hospitalRole' && html`<label>Hospital <input name="hospital" type="number" min="1" required /></label>
            <label>Role <select name="role">${phr.ROLES.map((r) => html`<option>${r}</option>`)}</select></label>`}
          ${kind === 'policy' && html`<div class="row">${phr.ROLES.map((r) => html`<label><input type="checkbox" name="policyRoles" value=${r} /> ${r}</label>`)}</div>
            <label>At hospitals (ids, comma-separated) <input name="hospitals" /></label>
            <label><input type="checkbox" name="anyHospital" /> at ANY member hospital (each hospital's admin alone decides who holds which role there)</label>
            <label>Departments <input name="departments" placeholder="cardiology" /></label><label>Facilities <input name="facilities" /></label>`}
        </fieldset>
        <fieldset><legend>What</legend>
          <div class="row">${CATEGORY_NAMES.map((c) => html`<label><input type="checkbox" name="categories" value=${c} data-testid=${`share-${c}`} /> ${categoryLabel(c)}</label>`)}</div>
          <label>Or these records (numbers, comma-separated) <input name="records" /></label>
        </fieldset>
        <fieldset><legend>How and how long</legend>
          <label><input type="checkbox" name="read" checked /> read</label> <label><input type="checkbox" name="append" /> add records</label>
          <label>For <select name="duration" data-testid="share-duration">${DURATIONS.map(([label, ms]) => html`<option value=${ms}>${label}</option>`)}</select></label>
        </fieldset>
        <button type="submit" data-testid="share-review">Review</button>
      </form>
      ${draft && html`<div class="summary" data-testid="share-summary"><p>${phr.summarizeGrant(draft, Date.now() + draft.durationMs)}</p>
        <button disabled=${busy} data-testid="share-sign" onClick=${() => run('Sharing', (progress) => phr.grant({ s, vault, progress }, draft), (r) => { setDraft(null); refresh(); return `Grant ${r.grant} is on chain; the keys of ${r.shared} record(s) are shared.${r.missing.length ? ` Not yet with ${r.missing.map(short).join(', ')}: they have no keys on chain.` : ''}`; })}>Sign and share</button>
        <button class="secondary" onClick=${() => setDraft(null)}>Cancel</button></div>`}
      ${view}
    <//>
    <${Section} title="My grants">
      ${grants.length === 0 && html`<p class="muted">You share nothing.</p>`}
      <ul data-testid="grants">${grants.map((g) => html`<li>Grant ${String(g.id)}: ${phr.summarizeGrant(g, g.expiresAt)} ${g.expired ? html`<strong>(expired)</strong>` : ''}
        <button class="danger" disabled=${busy} data-testid=${`revoke-${g.id}`} onClick=${() => run('Revoking', (progress) => phr.revoke({ s, vault, progress }, g.id, true), (rekeyed) => { refresh(); return `Grant ${g.id} is revoked; ${rekeyed.length} record(s) re-encrypted under new keys (${rekeyed.join(', ')}), shared with the remaining readers only.`; })}>Revoke</button></li>`)}</ul>
      <p class="hint">A grant that simply expires re-keys nothing: its reader may still hold keys it was given.
        <button class="secondary" disabled=${busy} data-testid="rekey-expired" onClick=${() => run('Re-keying after expired grants', (progress) => phr.rekeyExpired({ s, vault, progress }), ({ rekeyed, expiredAt }) => expiredAt === null ? 'No grant of yours has expired yet: nothing to re-key.' : `${rekeyed.length} record version(s) keyed before a grant expired (block ${expiredAt}) re-encrypted under new keys.`)}>Re-key what expired grants could read</button></p>
    <//>
    <${Guardians} s=${s} vault=${vault} />
    <${Consents} s=${s} vault=${vault} />`;
}

function Guardians({ s, vault }: { s: Session; vault: keys.Vault }) {
  const { run, view, busy } = useAction();
  return html`<${Section} title="Guardians">
    <form onSubmit=${(e: Event) => { e.preventDefault(); const d = new FormData(e.target as HTMLFormElement); const guardian = String(d.get('guardian')).trim(); const remove = (e as SubmitEvent).submitter?.getAttribute('value') === 'remove';
      run(remove ? 'Removing the guardian' : 'Appointing the guardian', (progress) => s.submit(vault, remove ? s.api.tx.access.removeGuardian(vault.account, guardian) : s.api.tx.access.appointGuardian(guardian, { read: d.get('read') === 'on', manageGrants: d.get('manage') === 'on' }), (t) => progress(t)), () => remove ? `${short(guardian)} is no longer your guardian.` : `${short(guardian)} is now your guardian.`); }}>
      <label>Account <input name="guardian" required /></label>
      <label><input type="checkbox" name="read" checked /> may read my records</label> <label><input type="checkbox" name="manage" /> may manage my grants</label>
      <button type="submit" value="add" disabled=${busy}>Appoint</button> <button type="submit" value="remove" class="secondary" disabled=${busy}>Remove</button>
    </form>${view}<//>`;
}

function Consents({ s, vault }: { s: Session; vault: keys.Vault }) {
  const { run, view, busy } = useAction();
  return html`<${Section} title="Research consents">
    <form onSubmit=${(e: Event) => { e.preventDefault(); const d = new FormData(e.target as HTMLFormElement); const purpose = Number(d.get('purpose')); const withdraw = (e as SubmitEvent).submitter?.getAttribute('value') === 'withdraw';
      const categories = d.getAll('categories').map(String).reduce((m, c) => m | (1 << CATEGORY_NAMES.indexOf(c)), 0);
      run(withdraw ? 'Withdrawing' : 'Consenting', (progress) => s.submit(vault, withdraw ? s.api.tx.access.withdrawConsent(vault.account, purpose) : s.api.tx.access.giveConsent(vault.account, purpose, categories, Date.now() + Number(d.get('duration'))), (t) => progress(t)), () => withdraw ? `Consent to research purpose ${purpose} withdrawn.` : `Consent to research purpose ${purpose} given.`); }}>
      <label>Research purpose code <input name="purpose" type="number" min="0" required /></label>
      <div class="row">${CATEGORY_NAMES.map((c) => html`<label><input type="checkbox" name="categories" value=${c} /> ${categoryLabel(c)}</label>`)}</div>
      <label>For <select name="duration">${DURATIONS.map(([label, ms]) => html`<option value=${ms}>${label}</option>`)}</select></label>
      <button type="submit" value="give" disabled=${busy}>Consent</button> <button type="submit" value="withdraw" class="secondary" disabled=${busy}>Withdraw</button>
    </form>${view}<//>`;
}

function AuditView({ s, vault, patient, nodes }: { s: Session; vault: keys.Vault; patient: string; nodes: NodeInfo[] }) {
  const [result, setResult] = useState<Awaited<ReturnType<typeof phr.audit>> | null>(null);
  const { run, view, busy } = useAction();
  const load = () => run('Reading the trail and checking every receipt', async () => {
    const sources: Session[] = [s];
    for (const n of nodes) if (n.url !== s.node.url) await Session.connect(n, s.trust, s.pinned).then((x) => sources.push(x)).catch(() => undefined);
    try {
      return await phr.audit({ s, vault }, patient, sources);
    } finally {
      for (const x of sources.slice(1)) void x.disconnect();
    }
  }, (r) => { setResult(r); return `${r.reads.filter((x) => x.verified).length} of ${r.reads.length} reads verified against the chain.`; });
  useEffect(() => void load(), [patient]);
  return html`<div data-testid="audit">
    <button class="secondary" onClick=${load} disabled=${busy}>Refresh</button>${view}
    ${result && html`<h3>Who read what</h3>
      ${result.reads.length === 0 && html`<p class="muted">No anchored reads yet (nodes anchor receipts every few blocks).</p>`}
      <table><thead><tr><th>Record</th><th>Reader</th><th>As</th><th>Served by</th><th>Receipt</th></tr></thead>
      <tbody data-testid="reads">${result.reads.map((r) => html`<tr><td>${String(r.record)}</td><td><code title=${r.reader}>${short(r.reader)}</code></td><td>${r.basis}</td><td>hospital ${r.hospital}</td>
        <td class=${r.verified ? 'ok' : 'error'}>${r.verified ? 'verified ✓' : 'NOT VERIFIED'}</td></tr>`)}</tbody></table>
      ${result.unavailable.length > 0 && html`<p class="hint">Batches ${result.unavailable.join(', ')} were not available from the nodes asked.</p>`}
      <h3>Trail</h3><table><thead><tr><th>Block</th><th>By</th><th>What</th></tr></thead>
      <tbody>${result.trail.map((e) => html`<tr><td>${e.block}</td><td><code title=${e.actor}>${short(e.actor)}</code></td><td>${e.action} ${e.detail}</td></tr>`)}</tbody></table>
      ${result.trail.some((e) => e.action === 'emergencyOpened') && html`<p class="warning">Emergency openings of these records: ${result.trail.filter((e) => e.action === 'emergencyOpened').map((e) => `${e.detail} by ${short(e.actor)} at block ${e.block}`).join('; ')}. An auditor of the opener's hospital reviews each.</p>`}`}
  </div>`;
}

// ---- Provider ----

function Provider({ s, vault }: { s: Session; vault: keys.Vault }) {
  const [patients, setPatients] = useState<{ patient: string; rows: phr.RecordRow[] }[]>([]);
  const [emergency, setEmergency] = useState<{ patient: string; rows: phr.RecordRow[] } | null>(null);
  const { run, view, busy } = useAction();
  const refresh = () => run('Finding the patients who share with you', async () => {
    const grants = await phr.grantsTo(s, vault.account);
    const out: { patient: string; rows: phr.RecordRow[] }[] = [];
    for (const patient of [...new Set(grants.map((g) => g.patient))]) {
      const live = (await phr.grantsOf(s, patient)).filter((g) => g.read && !g.expired && grants.some((x) => x.grant === g.id));
      const rows = (await phr.records(s, patient)).filter((r) => r.current && live.some((g) => g.categories.includes(r.category) || g.records.includes(r.root)));
      out.push({ patient, rows });
    }
    return out;
  }).then((r) => r && setPatients(r));
  useEffect(() => void refresh(), [s, vault]);
  const breakGlass = (e: Event) => {
    e.preventDefault();
    const d = new FormData(e.target as HTMLFormElement);
    const patient = String(d.get('patient')).trim();
    run('Opening emergency access', async (progress) => {
      await phr.openEmergency({ s, vault, progress }, patient, String(d.get('reason')), Number(d.get('minutes')));
      return phr.records(s, patient);
    }, (rows) => { setEmergency({ patient, rows }); return `Emergency access to ${short(patient)}'s records is open; the patient is notified and an auditor will review it.`; });
  };
  return html`
    <${Section} title="Patients who shared with me">
      <button class="secondary" onClick=${refresh} disabled=${busy}>Refresh</button>
      ${patients.length === 0 && html`<p class="muted" data-testid="no-patients">No patient shares records with you.</p>`}
      ${patients.map((p) => html`<div class="patient"><h3>Patient <code>${p.patient}</code></h3>
        <${RecordList} s=${s} vault=${vault} rows=${p.rows}>
          ${p.rows.some((r) => r.category === 'observation') && html`<${ChartOf} s=${s} vault=${vault} rows=${p.rows.filter((r) => r.category === 'observation')} />`}
        <//></div>`)}
      ${view}
    <//>
    <${Section} title="Break-glass (emergency access)">
      <p class="warning">Emergency access opens ALL of a patient's records without their consent. It is recorded on chain, the patient is notified, every read is receipted, and an auditor of your hospital must review it. Use it only when the patient cannot consent and care cannot wait.</p>
      <form onSubmit=${breakGlass}>
        <label>Patient account <input name="patient" required /></label>
        <label>Reason (stated in full; its hash is on chain) <input name="reason" required minlength="10" /></label>
        <label>Minutes <input name="minutes" type="number" min="1" max="1440" value="60" /></label>
        <button class="danger" type="submit" disabled=${busy}>Open emergency access</button>
      </form>
      ${emergency && html`<${RecordList} s=${s} vault=${vault} rows=${emergency.rows.filter((r) => r.current)} purpose="emergency" />`}
    <//>`;
}

// ---- Auditor ----

function Auditor({ s, vault, nodes }: { s: Session; vault: keys.Vault; nodes: NodeInfo[] }) {
  const [patient, setPatient] = useState('');
  const [pending, setPending] = useState<any[]>([]);
  const { run, view, busy } = useAction();
  const refresh = () => run('Listing emergency openings awaiting review', async () => {
    const state = await s.state();
    const pending = (await state.entries(s.api.query.access.pendingReview)).map(({ args }) => args.map((a: any) => Number(a.toString())));
    const openings = await state.values(s.api.query.access.emergencyOfId, pending.map(([, id]) => [id]));
    return pending.flatMap(([hospital, id], i) => (openings[i] ? [{ id, hospital, ...openings[i] }] : []));
  }).then((r) => r && setPending(r));
  useEffect(() => void refresh(), [s]);
  return html`
    <${Section} title="Emergency openings awaiting review">
      ${pending.length === 0 && html`<p class="muted">None.</p>`}
      <ul>${pending.map((e) => html`<li>Opening ${e.id} at hospital ${e.hospital}: <code>${short(e.opener)}</code> opened <code>${short(e.patient)}</code>'s records at ${when(e.openedAt)} until ${when(e.expiresAt)}
        <button disabled=${busy} onClick=${() => run('Marking reviewed', (progress) => s.submit(vault, s.api.tx.access.reviewEmergency(e.id), (t) => progress(t)), () => { refresh(); return `Opening ${e.id} is marked reviewed.`; })}>Mark reviewed</button></li>`)}</ul>
      ${view}
    <//>
    <${Section} title="A patient's trail">
      <form onSubmit=${(e: Event) => { e.preventDefault(); setPatient(String(new FormData(e.target as HTMLFormElement).get('patient')).trim()); }}>
        <label>Patient account <input name="patient" required /></label><button type="submit">Show</button></form>
      ${patient && html`<${AuditView} key=${patient} s=${s} vault=${vault} patient=${patient} nodes=${nodes} />`}
    <//>`;
}

// ---- Hospital admin ----

function Admin({ s, vault }: { s: Session; vault: keys.Vault }) {
  const [proposals, setProposals] = useState<any[]>([]);
  const { run, view, busy } = useAction();
  const refresh = () => s.state().then((state) => state.entries(s.api.query.consortium.proposals))
    .then((list) => setProposals(list.map(({ args, value }) => ({ id: Number(args[0].toString()), ...value }))))
    .catch(() => setProposals([]));
  useEffect(() => void refresh(), [s]);
  const submit = (label: string, tx: any, done: string) => run(label, (progress) => s.submit(vault, tx, (t) => progress(t)), () => done);
  return html`
    <${Section} title="Onboard a patient">
      <form onSubmit=${(e: Event) => { e.preventDefault(); const p = String(new FormData(e.target as HTMLFormElement).get('patient')).trim(); submit('Onboarding', s.api.tx.consortium.onboardPatient(p), `${short(p)} is a patient of your hospital.`); }}>
        <label>Patient account <input name="patient" required data-testid="onboard-account" /></label><button type="submit" disabled=${busy} data-testid="onboard">Onboard</button>
        <button type="button" class="secondary" disabled=${busy} onClick=${(e: Event) => { const p = ((e.target as HTMLElement).closest('form')!.querySelector('input') as HTMLInputElement).value.trim(); submit('Offboarding', s.api.tx.consortium.offboardPatient(p), `${short(p)} is offboarded: it keeps its records and may still revoke and erase.`); }}>Offboard</button>
      </form>
    <//>
    <${Section} title="Register staff">
      <form onSubmit=${(e: Event) => { e.preventDefault(); const d = new FormData(e.target as HTMLFormElement); const who = String(d.get('account')).trim(); const roles = d.getAll('roles').map(String).reduce((m, r) => m | (1 << phr.ROLES.indexOf(r)), 0);
        submit('Registering staff', s.api.tx.consortium.registerStaff(who, roles, new TextEncoder().encode(String(d.get('department'))), new TextEncoder().encode(String(d.get('facility')))), `${short(who)} is registered as ${d.getAll('roles').join('+')} staff.`); }}>
        <label>Account <input name="account" required data-testid="staff-account" /></label>
        <div class="row">${phr.ROLES.map((r) => html`<label><input type="checkbox" name="roles" value=${r} data-testid=${`staff-${r}`} /> ${r}</label>`)}</div>
        <label>Department <input name="department" data-testid="staff-department" /></label><label>Facility <input name="facility" data-testid="staff-facility" /></label>
        <button type="submit" disabled=${busy} data-testid="register-staff">Register</button>
      </form>
    <//>
    <${Section} title="Consortium proposals">
      ${proposals.length === 0 && html`<p class="muted">No open proposals.</p>`}
      <ul>${proposals.map((p) => html`<li>Proposal ${p.id} by hospital ${p.proposer}: <code>${JSON.stringify(p.action)}</code>, approved by ${(p.approvals ?? []).join(', ')}
        <button disabled=${busy} onClick=${() => run('Approving', (progress) => s.submit(vault, s.api.tx.consortium.approve(p.id), (t) => progress(t)), () => { refresh(); return `Approved proposal ${p.id}.`; })}>Approve</button></li>`)}</ul>
      <p class="hint">New members, removals, validator changes and runtime upgrades are proposed with <code>phr admin propose-…</code>.</p>
    <//>${view}`;
}

// ---- the shell ----

const VIEWS = ['Account', 'My records', 'Sharing', 'Who read what', 'Provider', 'Auditor', 'Admin'] as const;
type View = (typeof VIEWS)[number];

export function App({ nodes, trust, pinned }: { nodes: NodeInfo[]; trust: Anchor; pinned: Pinned }) {
  const [nodeIndex, setNodeIndex] = useState(() => Math.max(0, nodes.findIndex((n) => n.name === new URLSearchParams(location.search).get('node'))));
  const [s, setSession] = useState<Session | null>(null);
  const [error, setError] = useState('');
  const [vault, setVault] = useState<keys.Vault | null>(null);
  const [view, setView] = useState<View>('Account');
  useEffect(() => {
    let live: Session | null = null;
    setSession(null);
    setError('');
    Session.connect(nodes[nodeIndex], trust, pinned).then((x) => setSession((live = x))).catch((e) => setError(describe(e)));
    return () => void live?.disconnect();
  }, [nodeIndex]);
  // Locking (or closing the page) wipes the unlocked keys.
  useEffect(() => {
    const wipe = () => vault && keys.lock(vault);
    addEventListener('pagehide', wipe);
    return () => removeEventListener('pagehide', wipe);
  }, [vault]);
  const needsVault = view !== 'Account' && !vault;
  return html`<header>
      <h1>PHR portal</h1>
      <label>Hospital node <select data-testid="node" onChange=${(e: Event) => setNodeIndex(Number((e.target as HTMLSelectElement).value))}>
        ${nodes.map((n, i) => html`<option value=${i} selected=${i === nodeIndex}>${n.name} (${n.url})</option>`)}</select></label>
      <span class="muted" data-testid="connection">${s ? `connected to ${s.node.name}` : error ? '' : 'connecting…'}</span>
      ${vault && html`<span>Signed in as <code title=${vault.account}>${short(vault.account)}</code></span>`}
    </header>
    <nav>${VIEWS.map((v) => html`<button class=${v === view ? 'tab active' : 'tab'} onClick=${() => setView(v)} data-testid=${`tab-${v}`}>${v}</button>`)}</nav>
    <main>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${s && needsVault && html`<p class="hint">Unlock or create an account first (Account).</p>`}
      ${s && view === 'Account' && html`<${AccountView} vault=${vault} setVault=${setVault} s=${s} />`}
      ${s && vault && view === 'My records' && html`<${MyRecords} s=${s} vault=${vault} />`}
      ${s && vault && view === 'Sharing' && html`<${Sharing} s=${s} vault=${vault} />`}
      ${s && vault && view === 'Who read what' && html`<${Section} title="Who read my records"><${AuditView} s=${s} vault=${vault} patient=${vault.account} nodes=${nodes} /><//>`}
      ${s && vault && view === 'Provider' && html`<${Provider} s=${s} vault=${vault} />`}
      ${s && vault && view === 'Auditor' && html`<${Auditor} s=${s} vault=${vault} nodes=${nodes} />`}
      ${s && vault && view === 'Admin' && html`<${Admin} s=${s} vault=${vault} />`}
    </main>`;
}
