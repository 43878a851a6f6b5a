// What the portal does, step by step, as the `phr` wallet does it (wallet/src/commands.rs,
// blobs.rs, escrow.rs): records are sealed here, their data keys wrapped here for exactly the
// readers the chain's live grants name, escrowed t-of-n among the member hospitals for
// break-glass, and every read checked against the chain and decrypted here.

import { blake2AsU8a, decodeAddress, encodeAddress } from '@polkadot/util-crypto';
import {
  combineShares, decodeReceipt, openRecord, openReleased, receiptInBatch, receiptSigned, sealRecord, sealShare, splitKey,
  threshold, unhex, unwrapDataKey, wrapDataKey, random, hex, type Receipt, type Share,
} from './crypto';
import { bundleManifest, bundleType, BUNDLE_TYPES, categoryOfFile, CATEGORY_NAMES, splitBundle, type Resource } from './bundle';
import { fromBase64, Session } from './chain';
import { UserError } from './errors';
import { encryptionSecret, publicKeys, rotate, setCurrentEpoch, type Vault } from './keys';

export type Progress = (text: string, fraction?: number) => void;
export type Ctx = { s: Session; vault: Vault; progress?: Progress };

export const ROLES = ['physician', 'nurse', 'pharmacist', 'researcher', 'auditor', 'emergency', 'admin'];

export type RecordRow = {
  id: bigint; patient: string; author: string; category: string; size: number; version: number; keyEpoch: number; keySetAt: number;
  status: string; registeredAt: number; root: bigint; current: boolean; erased: boolean;
};
export type Grantee =
  | { kind: 'account'; account: string }
  | { kind: 'hospitalRole'; hospital: number; role: string }
  | { kind: 'policy'; roles: string[]; hospitals: number[] | 'all'; departments: string[]; facilities: string[] };
export type GrantRow = {
  id: bigint; grantee: Grantee; categories: string[]; records: bigint[]; read: boolean; append: boolean;
  expiresAt: number; grantedBy: string; expired: boolean;
};
export type StaffRow = { account: string; hospital: number; roles: string[]; department: string; facility: string };

const text = (hexBytes: string) => new TextDecoder().decode(unhex(hexBytes || '0x'));
const lowerFirst = (s: string) => s[0].toLowerCase() + s.slice(1);
const bits = <T>(mask: number, names: T[]) => names.filter((_, i) => mask & (1 << i));
const mask = (names: string[], all: string[]) => names.reduce((m, n) => m | (1 << all.indexOf(n)), 0);
const variant = (json: any): [string, any] => (typeof json === 'string' ? [lowerFirst(json), null] : [lowerFirst(Object.keys(json)[0]), Object.values(json)[0]]);

function recordRow(id: any, info: any): RecordRow {
  const [status] = variant(info.status);
  return {
    id: BigInt(id), patient: info.patient, author: info.author, category: lowerFirst(info.category), size: Number(info.size ?? info.size_),
    version: info.version, keyEpoch: info.keyEpoch, keySetAt: Number(info.keySetAt), status, registeredAt: info.registeredAt, root: BigInt(info.root),
    current: status === 'current', erased: status === 'erased',
  };
}

function grantRow(id: any, grant: any): GrantRow {
  const t = grant.terms;
  const [kind, value] = variant(t.grantee);
  let grantee: Grantee;
  if (kind === 'account') grantee = { kind, account: value };
  else if (kind === 'hospitalRole') grantee = { kind, hospital: value.hospital, role: lowerFirst(value.role) };
  else {
    const [h, hv] = variant(value.hospitals);
    grantee = {
      kind: 'policy', roles: bits(value.roles, ROLES), hospitals: h === 'consortiumWide' ? 'all' : hv,
      departments: value.departments.map(text), facilities: value.facilities.map(text),
    };
  }
  return {
    id: BigInt(id), grantee, categories: bits(t.scope.categories, CATEGORY_NAMES), records: t.scope.records.map(BigInt),
    read: (t.rights & 1) !== 0, append: (t.rights & 2) !== 0, expiresAt: Number(t.expiresAt), grantedBy: grant.grantedBy,
    expired: Number(t.expiresAt) <= Date.now(),
  };
}

// ---- the chain's view, at the finalized block, every value proven (web/src/verified.ts) ----

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);
const ADMIN = 1 << ROLES.indexOf('admin');

export async function records(s: Session, patient: string): Promise<RecordRow[]> {
  const state = await s.state();
  const count = Number(await state.value(s.api.query.records.recordCountOf, patient));
  const ids = (await state.values(s.api.query.records.recordsByPatient, upTo(count).map((i) => [patient, i]))).filter((id) => id !== null);
  const infos = await state.values(s.api.query.records.recordOf, ids.map((id) => [id]));
  return ids.flatMap((id, i) => (infos[i] ? [recordRow(id, infos[i])] : []));
}

export async function record(s: Session, id: bigint): Promise<RecordRow | null> {
  const info = await (await s.state()).value(s.api.query.records.recordOf, id);
  return info ? recordRow(id, info) : null;
}

export async function grantsOf(s: Session, patient: string): Promise<GrantRow[]> {
  const state = await s.state();
  const ids: any[] = (await state.value(s.api.query.access.grantsByPatient, patient)) ?? [];
  const grants = await state.values(s.api.query.access.grantOf, ids.map((id) => [id]));
  return ids.flatMap((id, i) => (grants[i] ? [grantRow(id, grants[i])] : []));
}

/** The patients whose grants name `who` as their one account (proven complete). */
export async function grantsTo(s: Session, who: string): Promise<{ grant: bigint; patient: string }[]> {
  const entries = await (await s.state()).entries(s.api.query.access.grantsToAccount, who);
  return entries.map(({ args, value }) => ({ grant: BigInt(args[1].toString()), patient: String(value) }));
}

/** The staff of member hospitals with their roles (a member's admin holds `admin` too), as the
 *  runtime's `staff_page` lists them, proven complete. */
export async function staff(s: Session): Promise<StaffRow[]> {
  const state = await s.state();
  const entries = await state.entries(s.api.query.consortium.staffOf);
  const memberIds = new Set((await state.entries(s.api.query.consortium.members)).map(({ args }) => Number(args[0].toString())));
  const adminOf = await state.values(s.api.query.consortium.hospitalOfAdmin, entries.map(({ args }) => [args[0]]));
  return entries.flatMap(({ args, value: info }, i): StaffRow[] => {
    const isStaff = memberIds.has(info.hospital);
    const admin = adminOf[i] === null ? null : Number(adminOf[i]);
    let hospital: number;
    let roles: number;
    if (isStaff && admin === info.hospital) [hospital, roles] = [info.hospital, info.roles | ADMIN];
    else if (isStaff) [hospital, roles] = [info.hospital, info.roles];
    else if (admin !== null) [hospital, roles] = [admin, ADMIN];
    else return [];
    const own = isStaff && info.hospital === hospital;
    return [{
      account: args[0].toString(), hospital, roles: bits(roles, ROLES),
      department: own ? text(info.department) : '', facility: own ? text(info.facility) : '',
    }];
  });
}

/** Every member hospital with its validator account and node, by hospital id (proven complete). */
export async function members(s: Session): Promise<{ hospital: number; agent: string; peer: Uint8Array }[]> {
  const entries = await (await s.state()).entries(s.api.query.consortium.members);
  return entries
    .map(({ args, value }) => ({ hospital: Number(args[0].toString()), agent: String(value.validator), peer: unhex(value.node) }))
    .sort((a, b) => a.hospital - b.hospital);
}

type ReaderKey = { epoch: number; encryption: Uint8Array };
type ReaderKeys = Map<string, ReaderKey | null>;
const readerKey = (key: any): ReaderKey | null => (key ? { epoch: key.epoch, encryption: unhex(key.keys.encryption) } : null);

export async function currentKey(s: Session, who: string): Promise<ReaderKey | null> {
  return readerKey(await (await s.state()).value(s.api.query.keys.keyOf, who));
}

/** The current keys of many readers, with one proof. */
async function readerKeys(s: Session, who: string[]): Promise<ReaderKeys> {
  const keys = await (await s.state()).values(s.api.query.keys.keyOf, who.map((a) => [a]));
  return new Map(who.map((a, i) => [a, readerKey(keys[i])]));
}

/** Who a grantee names among the staff (the account itself for a person). */
export function named(grantee: Grantee, staffList: StaffRow[]): string[] {
  if (grantee.kind === 'account') return [grantee.account];
  return staffList.filter((m) => {
    if (grantee.kind === 'hospitalRole') return m.hospital === grantee.hospital && m.roles.includes(grantee.role);
    return (grantee.roles.length === 0 || grantee.roles.some((r) => m.roles.includes(r))) &&
      (grantee.hospitals === 'all' || grantee.hospitals.includes(m.hospital)) &&
      (grantee.departments.length === 0 || grantee.departments.includes(m.department)) &&
      (grantee.facilities.length === 0 || grantee.facilities.includes(m.facility));
  }).map((m) => m.account);
}

const covers = (g: GrantRow, r: RecordRow) => g.categories.includes(r.category) || g.records.includes(r.root);

/** Who gets a record's key: everyone a live read grant of `patient` covering the record names
 *  (never emergency staff in advance: break-glass readers get the key from the hospitals' escrow
 *  shares). The grants and staff are read once, for all the records of one action. */
async function readersOf(s: Session, patient: string): Promise<(r: RecordRow) => string[]> {
  const [grants, staffList] = await Promise.all([grantsOf(s, patient), staff(s)]);
  const live = grants.filter((g) => g.read && !g.expired);
  return (r) => live.filter((g) => covers(g, r)).flatMap((g) => named(g.grantee, staffList));
}

// ---- keys ----

export async function keysOnChain(s: Session, vault: Vault): Promise<'registered' | 'outdated' | 'none'> {
  const key = await currentKey(s, vault.account);
  if (!key) return 'none';
  return hex(key.encryption) === hex((await publicKeys(vault)).encryption) ? 'registered' : 'outdated';
}

export async function registerKeys({ s, vault, progress }: Ctx): Promise<void> {
  const keys = await publicKeys(vault);
  progress?.('Registering your keys on chain');
  await s.submit(vault, s.api.tx.keys.registerKeys({ encryption: keys.encryption, requestSigning: keys.requestSigning }), progress);
}

/** New encryption and request keys (epoch + 1); the data keys of the patient's records are
 *  wrapped again for the new key. */
export async function rotateKeys(ctx: Ctx): Promise<number> {
  const { s, vault, progress } = ctx;
  const current = await currentKey(s, vault.account);
  if (!current) throw new UserError('Your keys are not on chain yet: register them first.');
  // The new keys are saved before the chain knows them (a crash in between loses no key the chain
  // has); a refused rotation puts the old ones back.
  const before = { seed: vault.secrets.requestSeed.slice(), keys: vault.secrets.encryptionKeys.map((k) => ({ epoch: k.epoch, secret: k.secret.slice() })) };
  await rotate(vault, current.epoch + 1);
  const keys = await publicKeys(vault);
  let events: any[];
  try {
    events = await s.submit(vault, s.api.tx.keys.rotateKeys({ encryption: keys.encryption, requestSigning: keys.requestSigning }), progress);
  } catch (error) {
    vault.secrets.requestSeed = before.seed;
    vault.secrets.encryptionKeys = before.keys;
    await setCurrentEpoch(vault, current.epoch);
    throw error;
  }
  const epoch = Number(events.find((e) => e.section === 'keys' && e.method === 'KeysRotated')?.data.epoch ?? current.epoch + 1);
  await setCurrentEpoch(vault, epoch);
  const mine = (await records(s, vault.account)).filter((r) => r.current);
  for (const [i, r] of mine.entries()) {
    progress?.(`Wrapping record ${r.id}'s key for your new key`, i / mine.length);
    const { key, epoch: dataEpoch } = await keyOnly(ctx, r.id);
    await deliver(ctx, r.id, dataEpoch, key, [vault.account]);
  }
  return epoch;
}

/** Wraps `key` for each recipient with keys on chain; returns those it could not. */
async function deliver({ s, vault }: Ctx, record: bigint, dataEpoch: number, key: Uint8Array, recipients: string[], known?: ReaderKeys): Promise<string[]> {
  const missing: string[] = [];
  const done = new Set<string>();
  for (const who of recipients) {
    const id = hex(decodeAddress(who));
    if (done.has(id)) continue;
    done.add(id);
    const keys = known?.has(who) ? known.get(who)! : await currentKey(s, who);
    if (!keys) {
      missing.push(who);
      continue;
    }
    try {
      await s.putWrapped(vault, record, dataEpoch, who, keys.epoch, await wrapDataKey(key, keys.encryption, record, dataEpoch));
    } catch {
      missing.push(who);
    }
  }
  return missing;
}

/** Splits the data key among the member hospitals' escrow keys; returns hospitals without one. */
async function escrow({ s, vault }: Ctx, record: bigint, dataEpoch: number, key: Uint8Array): Promise<number[]> {
  const list = await members(s);
  const shares = splitKey(key, threshold(list.length), list.length);
  const missing: number[] = [];
  for (const [i, m] of list.entries()) {
    const keys = await currentKey(s, m.agent);
    if (!keys) {
      missing.push(m.hospital);
      continue;
    }
    try {
      await s.putWrapped(vault, record, dataEpoch, m.agent, keys.epoch, await sealShare(shares[i], keys.encryption, record, dataEpoch, m.hospital));
    } catch {
      missing.push(m.hospital);
    }
  }
  return missing;
}

// ---- records ----

export type Added = { record: bigint; category: string; resourceType: string };

/** Seals and adds a file: a FHIR Bundle becomes one record per resource. */
export async function addFile(ctx: Ctx, bytes: Uint8Array, patient: string = ctx.vault.account): Promise<{ added: Added[]; missing: string[]; noEscrow: number[] }> {
  const { s, vault, progress } = ctx;
  const split = splitBundle(bytes);
  const added: Added[] = [];
  const missing: string[] = [];
  const noEscrow: number[] = [];
  const readers = await readersOf(s, patient);
  if (split) return addBundle(ctx, bytes, split, patient, readers);
  const resources = [{ category: categoryOfFile(bytes), resourceType: 'file', json: bytes }];
  for (const [i, resource] of resources.entries()) {
    const step = (what: string, within = 0) => progress?.(`${what} (${i + 1} of ${resources.length})`, (i + within) / resources.length);
    step('Encrypting');
    const key = random(32);
    const sealed = sealRecord(key, resource.json);
    step('Uploading', 0.2);
    const hash = await s.upload(vault, sealed, (done) => step('Uploading', 0.2 + 0.3 * (done / sealed.length)));
    step('Registering on chain', 0.5);
    const category = resource.category[0].toUpperCase() + resource.category.slice(1);
    const events = await s.submit(vault, s.api.tx.records.register(patient, hash, sealed.length, category), (t) => step(`Registering on chain: ${t}`, 0.7));
    const registered = events.find((e) => e.section === 'records' && e.method === 'RecordRegistered');
    if (!registered) throw new UserError('The record is on chain but the chain reported no record number: reload the page.');
    const id = BigInt(registered.data.record.toString());
    step('Sharing the key with you and your current readers', 0.85);
    const row = (await record(s, id))!;
    missing.push(...(await deliver(ctx, id, 0, key, [patient, vault.account, ...readers(row)])));
    noEscrow.push(...(await escrow(ctx, id, 0, key)));
    key.fill(0);
    added.push({ record: id, category: resource.category, resourceType: resource.resourceType });
  }
  progress?.('Done', 1);
  return { added, missing: [...new Set(missing)], noEscrow: [...new Set(noEscrow)] };
}

const chainCategory = (category: string) => category[0].toUpperCase() + category.slice(1);
const registeredId = (events: any[]): bigint => {
  const registered = events.find((e) => e.section === 'records' && e.method === 'RecordRegistered');
  if (!registered) throw new UserError('The record is on chain but the chain reported no record number: reload the page.');
  return BigInt(registered.data.record.toString());
};

/** A Bundle in one action, as the CLI adds it: every resource sealed and uploaded, all registered
 *  at once (consecutive nonces, one wait for finality), the keys shared, then the Bundle's
 *  manifest (its type, identifier, every entry's fullUrl and request, naming each entry's record),
 *  so the Bundle can be rebuilt with every reference resolving. One progress bar. */
async function addBundle(ctx: Ctx, bytes: Uint8Array, resources: Resource[], patient: string, readers: (row: RecordRow) => string[]) {
  const { s, vault, progress } = ctx;
  const kind = bundleType(bytes);
  if (!BUNDLE_TYPES.includes(kind)) throw new UserError(`A '${kind}' Bundle is not a record set: add transaction, batch, collection or document Bundles.`);
  const steps = resources.length * 3 + 2;
  let done = 0;
  const step = (what: string) => progress?.(what, done++ / steps);
  const sealed: { key: Uint8Array; hash: Uint8Array; size: number }[] = [];
  for (const [i, resource] of resources.entries()) {
    step(`Encrypting and uploading ${i + 1} of ${resources.length}`);
    const key = random(32);
    const one = sealRecord(key, resource.json);
    sealed.push({ key, hash: await s.upload(vault, one), size: one.length });
  }
  step('Registering every record on chain, waiting for finality');
  const start = done;
  const outcomes = await s.submitAll(vault, resources.map((r, i) => s.api.tx.records.register(patient, sealed[i].hash, sealed[i].size, chainCategory(r.category))), (final) => {
    done = start + final;
    progress?.(`Registered ${final} of ${resources.length} on chain`, done / steps);
  });
  const ids = outcomes.map(registeredId);
  const missing: string[] = [];
  const noEscrow: number[] = [];
  const share = async (id: bigint, key: Uint8Array) => {
    const row = (await record(s, id))!;
    missing.push(...(await deliver(ctx, id, 0, key, [patient, vault.account, ...readers(row)])));
    noEscrow.push(...(await escrow(ctx, id, 0, key)));
    key.fill(0);
  };
  const added: Added[] = [];
  for (const [i, id] of ids.entries()) {
    step(`Sharing record ${id}'s key`);
    await share(id, sealed[i].key);
    added.push({ record: id, category: resources[i].category, resourceType: resources[i].resourceType });
  }
  step('Adding the Bundle\'s manifest');
  const manifest = bundleManifest(bytes, ids);
  const key = random(32);
  const one = sealRecord(key, manifest);
  const hash = await s.upload(vault, one);
  const id = registeredId(await s.submit(vault, s.api.tx.records.register(patient, hash, one.length, 'Other')));
  await share(id, key);
  added.push({ record: id, category: 'other', resourceType: 'Bundle manifest' });
  progress?.('Done', 1);
  return { added, missing: [...new Set(missing)], noEscrow: [...new Set(noEscrow)] };
}

type Wrapped = { dataEpoch: number; recipientEpoch: number; bytes: Uint8Array } | null;

/** Opens a record's data key wrapped for this vault. */
async function openWrapped(vault: Vault, id: bigint, wrapped: Wrapped): Promise<{ key: Uint8Array; epoch: number }> {
  if (!wrapped) throw new UserError(`Record ${id}'s key was not shared with this account: ask the patient to grant you access again.`);
  const secret = encryptionSecret(vault, wrapped.recipientEpoch);
  if (!secret) throw new UserError(`Record ${id}'s key was wrapped to your key epoch ${wrapped.recipientEpoch}, which this wallet does not hold: import the wallet that does.`);
  return { key: await unwrapDataKey(wrapped.bytes, secret, id, wrapped.dataEpoch), epoch: wrapped.dataEpoch };
}

/** The data key of a record this vault can open (its own wrap), with the record's ciphertext. */
async function dataKey(ctx: Ctx, id: bigint): Promise<{ key: Uint8Array; epoch: number; ciphertext: Uint8Array; basis: string }> {
  const fetched = await ctx.s.fetch(ctx.vault, id, 'treatment');
  const { key, epoch } = await openWrapped(ctx.vault, id, fetched.wrapped);
  return { key, epoch, ciphertext: fetched.ciphertext, basis: fetched.basis };
}

/** The data key of a record this vault can open, asked for without the ciphertext (sharing and
 *  re-wrapping need the key only). */
async function keyOnly(ctx: Ctx, id: bigint): Promise<{ key: Uint8Array; epoch: number }> {
  return openWrapped(ctx.vault, id, await ctx.s.fetchKey(ctx.vault, id));
}

/** Fetches, checks and decrypts a record; emergency reads combine the hospitals' released shares. */
export async function read(ctx: Ctx, id: bigint, purpose: 'treatment' | 'emergency' = 'treatment'): Promise<{ plain: Uint8Array; basis: string }> {
  ctx.progress?.(`Fetching record ${id}`);
  if (purpose === 'treatment') {
    const { key, ciphertext, basis } = await dataKey(ctx, id);
    ctx.progress?.(`Decrypting record ${id}`);
    return { plain: openRecord(key, ciphertext), basis };
  }
  const fetched = await ctx.s.fetch(ctx.vault, id, 'emergency');
  const key = await releasedKey(ctx, id, fetched.keyEpoch, fetched.basis, fetched.ciphertext);
  return { plain: openRecord(key, fetched.ciphertext), basis: fetched.basis };
}

/** Break-glass: each member hospital releases its share, sealed to this vault, once the opening is
 *  final; t of them recover the key (combinations are tried, a false share cannot block). */
async function releasedKey({ s, vault, progress }: Ctx, id: bigint, dataEpoch: number, basis: string, ciphertext: Uint8Array): Promise<Uint8Array> {
  const emergency = /^Emergency\((\d+)\)$/.exec(basis)?.[1];
  if (!emergency) throw new UserError(`The node allowed this read as ${basis}, not under an emergency opening.`);
  const list = await members(s);
  progress?.('Asking the member hospitals for their escrow shares');
  const requests = list.map((m) => s.request(vault, { kind: 'releaseShare', emergency: Number(emergency) }, { kind: 'record', record: id }, m.peer));
  const answers: any[] = await s.phr('phr_releaseShares', [requests]);
  const shares: Share[] = [];
  for (const [i, answer] of answers.entries()) {
    const share = answer?.share;
    const secret = share && encryptionSecret(vault, Number(share.recipientEpoch));
    if (!share || !secret || Number(share.dataEpoch) !== dataEpoch) continue;
    try {
      shares.push(await openReleased(secret, fromBase64(share.sealed), id, dataEpoch, list[i].hospital));
    } catch {
      // A share that does not open is a dishonest or broken hospital's: the others may suffice.
    }
  }
  const needed = threshold(list.length);
  for (const subset of subsets(shares.length, needed)) {
    try {
      const key = combineShares(subset.map((i) => shares[i]));
      openRecord(key, ciphertext);
      return key;
    } catch {
      // Not this combination.
    }
  }
  throw new UserError(`Break-glass needs the escrow shares of ${needed} hospitals and ${shares.length} released theirs: the others must be online and have finalized your opening; try again shortly.`);
}

function subsets(n: number, k: number): number[][] {
  const all: number[][] = [];
  const walk = (start: number, current: number[]) => {
    if (current.length === k) return void all.push([...current]);
    for (let i = start; i < n; i++) walk(i + 1, [...current, i]);
  };
  walk(0, []);
  return all;
}

// ---- sharing ----

export type GrantForm = { grantee: Grantee; categories: string[]; records: bigint[]; read: boolean; append: boolean; durationMs: number; patient?: string };

function granteeArg(g: Grantee) {
  if (g.kind === 'account') return { Account: g.account };
  if (g.kind === 'hospitalRole') return { HospitalRole: { hospital: g.hospital, role: g.role[0].toUpperCase() + g.role.slice(1) } };
  const enc = new TextEncoder();
  return {
    Policy: {
      roles: mask(g.roles, ROLES), hospitals: g.hospitals === 'all' ? { ConsortiumWide: null } : { Only: g.hospitals },
      departments: g.departments.map((d) => enc.encode(d)), facilities: g.facilities.map((f) => enc.encode(f)),
    },
  };
}

/** In plain words: who may do what with which records until when. */
export function summarizeGrant(f: { grantee: Grantee; categories: string[]; records: bigint[]; read: boolean; append: boolean }, until: number, names: (a: string) => string = (a) => a): string {
  const who = f.grantee.kind === 'account' ? names(f.grantee.account)
    : f.grantee.kind === 'hospitalRole' ? `every ${f.grantee.role} at hospital ${f.grantee.hospital}`
    : `staff who are ${f.grantee.roles.join(' or ') || 'any role'}${f.grantee.departments.length ? ` in ${f.grantee.departments.join(' or ')}` : ''} at ${f.grantee.hospitals === 'all' ? 'ANY member hospital' : `hospital ${f.grantee.hospitals.join(' or ')}`}`;
  const what = [f.categories.length === CATEGORY_NAMES.length ? 'all your records' : f.categories.length ? `your ${f.categories.join(', ')} records` : '', f.records.length ? `record${f.records.length > 1 ? 's' : ''} ${f.records.join(', ')}` : '']
    .filter(Boolean).join(' and ');
  const rights = [f.read ? 'read' : '', f.append ? 'add to' : ''].filter(Boolean).join(' and ');
  return `${who} may ${rights} ${what} until ${new Date(until).toLocaleString()}. Every read is recorded on chain and you can revoke at any time.`;
}

export async function grant(ctx: Ctx, f: GrantForm): Promise<{ grant: bigint; shared: number; missing: string[] }> {
  const { s, vault, progress } = ctx;
  const patient = f.patient ?? vault.account;
  if (f.categories.length === 0 && f.records.length === 0) throw new UserError('Choose what to share: some categories or records.');
  if (!f.read && !f.append) throw new UserError('Choose read and/or add access.');
  const terms = {
    grantee: granteeArg(f.grantee), scope: { categories: mask(f.categories, CATEGORY_NAMES), records: f.records },
    rights: (f.read ? 1 : 0) | (f.append ? 2 : 0), expiresAt: Date.now() + f.durationMs, conditions: { timeWindow: null, facility: null },
  };
  // Who will read, and their keys, proven BEFORE anything is signed: a node that lies about them
  // stops the share here, with nothing sent.
  progress?.('Checking who will read, and their keys');
  const who = f.read ? named(f.grantee, await staff(s)) : [];
  const keys = await readerKeys(s, who);
  progress?.('Signing the grant');
  const events = await s.submit(vault, s.api.tx.access.grant(patient, terms), progress);
  const granted = events.find((e) => e.section === 'access' && e.method === 'AccessGranted');
  if (!granted) throw new UserError('The grant is on chain but the chain reported no grant number: reload the page.');
  const id = BigInt(granted.data.grant.toString());
  let shared = 0;
  const missing: string[] = [];
  if (f.read) {
    const scope = { categories: f.categories, records: f.records } as GrantRow;
    const mine = (await records(s, patient)).filter((r) => !r.erased && covers(scope, r));
    for (const [i, r] of mine.entries()) {
      if (who.length === 0) break;
      progress?.(`Sharing record ${r.id}'s key`, i / mine.length);
      const { key, epoch } = await keyOnly(ctx, r.id);
      missing.push(...(await deliver(ctx, r.id, epoch, key, who, keys)));
      shared++;
    }
  }
  return { grant: id, shared, missing: [...new Set(missing)] };
}

/** Revokes a grant; with `rekey`, every record it covered is re-encrypted under a new data key
 *  shared with the remaining readers only. */
export async function revoke(ctx: Ctx, id: bigint, rekey = true): Promise<bigint[]> {
  const { s, vault, progress } = ctx;
  const mine = await grantsTo(s, vault.account);
  const patient = mine.find((g) => g.grant === id)?.patient ?? vault.account;
  const target = (await grantsOf(s, patient)).find((g) => g.id === id);
  if (!target) throw new UserError(`Grant ${id} is not one of the live grants: reload the page.`);
  progress?.('Revoking on chain');
  await s.submit(vault, s.api.tx.access.revoke(id), progress);
  if (!rekey) return [];
  // Every version the grant covered, superseded ones too: the revoked reader may hold their keys.
  const covered = (await records(s, patient)).filter((r) => !r.erased && covers(target, r));
  return rekeyRecords(ctx, patient, covered, 'Revocation');
}

/** Re-keys `rows` of `patient`, as the CLI does: each read and resealed under a new data key in
 *  memory, uploaded, the rotations sent at once (one wait for finality), then each new key wrapped
 *  for the patient, the caller and the readers live grants name, and escrowed. */
export async function rekeyRecords(ctx: Ctx, patient: string, rows: RecordRow[], reason: 'Revocation' | 'Manual'): Promise<bigint[]> {
  const { s, vault, progress } = ctx;
  if (rows.length === 0) return [];
  const steps = rows.length * 3;
  const sealed: { key: Uint8Array; hash: Uint8Array; size: number }[] = [];
  for (const [i, r] of rows.entries()) {
    progress?.(`Re-encrypting record ${r.id} under a new key (${i + 1} of ${rows.length})`, i / steps);
    const { key: old, ciphertext } = await dataKey(ctx, r.id);
    const plain = openRecord(old, ciphertext);
    const key = random(32);
    const one = sealRecord(key, plain);
    plain.fill(0);
    sealed.push({ key, hash: await s.upload(vault, one), size: one.length });
  }
  const outcomes = await s.submitAll(vault, rows.map((r, i) => s.api.tx.keys.rotateDataKey(r.id, sealed[i].hash, sealed[i].size, reason)), (final) =>
    progress?.(`Rotations final on chain: ${final} of ${rows.length}`, (rows.length + final) / steps));
  const readers = await readersOf(s, patient);
  for (const [i, r] of rows.entries()) {
    progress?.(`Sharing record ${r.id}'s new key`, (2 * rows.length + i) / steps);
    const epoch = Number(outcomes[i].find((e) => e.section === 'keys' && e.method === 'DataKeyRotated')?.data.epoch);
    await deliver(ctx, r.id, epoch, sealed[i].key, [patient, vault.account, ...readers(r)]);
    await escrow(ctx, r.id, epoch, sealed[i].key);
    sealed[i].key.fill(0);
  }
  progress?.('Done', 1);
  return rows.map((r) => r.id);
}

/** The keys a grant's reader held stay useful after the grant simply expires (nothing re-keys
 *  then): every record version keyed before the latest expiry the chain recorded in the trail
 *  (`GrantExpired`) is re-keyed, as `phr rekey --expired` does. */
export async function rekeyExpired(ctx: Ctx): Promise<{ rekeyed: bigint[]; expiredAt: number | null }> {
  const patient = ctx.vault.account;
  const state = await ctx.s.state();
  const length = Number(await state.value(ctx.s.api.query.access.auditLength, patient));
  const trail = await state.values(ctx.s.api.query.access.auditTrail, upTo(length).map((i) => [patient, i]));
  const expiries = trail.filter((e) => e && variant(e.action)[0] === 'grantExpired').map((e) => Number(e.at));
  if (expiries.length === 0) return { rekeyed: [], expiredAt: null };
  const expiredAt = Math.max(...expiries);
  const stale = (await records(ctx.s, patient)).filter((r) => !r.erased && r.keySetAt < expiredAt);
  return { rekeyed: await rekeyRecords(ctx, patient, stale, 'Manual'), expiredAt };
}

// ---- audit ----

export type AuditEntry = { block: number; actor: string; action: string; detail: string };
export type ReadRow = { record: bigint; reader: string; basis: string; batch: number; hospital: number; verified: boolean; anchoredAt: number };

/** A patient's trail, and every anchored read of the patient's records with its receipt checked
 *  here: in the batch the chain anchored (Merkle proof against root and count), signed by the
 *  reader's request key, for this chain. */
export async function audit(ctx: Ctx, patient: string, sources: Session[]): Promise<{ trail: AuditEntry[]; reads: ReadRow[]; unavailable: number[] }> {
  const { s, vault } = ctx;
  const state = await s.state();
  const length = Number(await state.value(s.api.query.access.auditLength, patient));
  const trail: AuditEntry[] = [];
  for (const e of await state.values(s.api.query.access.auditTrail, upTo(length).map((i) => [patient, i]))) {
    if (!e) continue;
    const [action, detail] = variant(e.action);
    trail.push({ block: e.at, actor: e.actor, action, detail: detail ? JSON.stringify(detail) : '' });
  }
  const reads: ReadRow[] = [];
  const unavailable: number[] = [];
  const owners = new Map<bigint, boolean>();
  const batches = (await state.entries(s.api.query.access.receiptBatchOfId))
    .map(({ args, value }) => ({ batchId: Number(args[0].toString()), batch: value }))
    .sort((a, b) => a.batchId - b.batchId);
  for (const { batchId, batch } of batches) {
    let answer: any = null;
    for (const source of sources) {
      try {
        const request = source.request(vault, { kind: 'receipts', batch: batchId }, { kind: 'patient', account: decodeAddress(patient) });
        answer = await source.phr('phr_receiptBatch', [request, batchId]);
        break;
      } catch {
        // Another node may hold this batch.
      }
    }
    if (!answer) {
      unavailable.push(batchId);
      continue;
    }
    const root = unhex(batch.root);
    for (const encoded of answer.receipts as string[]) {
      let receipt: Receipt;
      try {
        receipt = decodeReceipt(unhex(encoded));
      } catch {
        continue;
      }
      const verified = Number(answer.count) === batch.count && receiptInBatch(receipt, root, batch.count) && receiptSigned(receipt, s.genesis);
      if (receipt.request.subject.kind !== 'record') continue;
      const id = BigInt(receipt.request.subject.record);
      if (!owners.has(id)) owners.set(id, (await record(s, id))?.patient === encodeAddress(decodeAddress(patient), 42));
      if (!owners.get(id)) continue;
      const b = receipt.basis;
      reads.push({
        record: id, reader: encodeAddress(receipt.request.account, 42), batch: batchId, hospital: batch.hospital, anchoredAt: batch.anchoredAt, verified,
        basis: b.kind === 'grant' ? `grant ${b.id}` : b.kind === 'emergency' ? `emergency opening ${b.id}` : b.kind === 'consent' ? `research consent ${b.code}` : b.kind,
      });
    }
  }
  return { trail, reads, unavailable };
}

export const hashReason = (reason: string) => blake2AsU8a(new TextEncoder().encode(reason), 256);

export async function openEmergency({ s, vault, progress }: Ctx, patient: string, reason: string, minutes: number): Promise<bigint> {
  if (reason.trim().length < 10) throw new UserError('State the reason for the emergency opening in a full sentence: it is audited.');
  const events = await s.submit(vault, s.api.tx.access.openEmergency(patient, hashReason(reason), minutes * 60_000), progress);
  const opened = events.find((e) => e.section === 'access' && e.method === 'EmergencyAccessOpened');
  return BigInt(opened?.data.emergency.toString() ?? '0');
}

