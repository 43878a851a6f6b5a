// Verified reads in the browser: the portal believes no node, as the `phr` wallet does not
// (wallet/src/verified.rs, docs/verified-reads.md).
//
// - The root of trust is the anchor `phr portal` hands out in `/config.json`: the genesis hash and
//   GRANDPA authority set it computed from the consortium's raw chain spec (or the checkpoint its
//   wallet verified since). It comes from the user's own machine, never from a node.
// - Finality is checked here: the node's `phr_finalityProof` (the GRANDPA warp proof) must carry,
//   for every justification, precommits of more than two thirds of the set in force, each signature
//   valid (ed25519 over the precommit, the round and the set id), the justified block the precommit
//   ghost; authority-set hand-offs are followed through their `ScheduledChange` digests. The latest
//   checkpoint is kept in `localStorage`, so later visits verify from there.
// - A verified head must be fresh: its proven `Timestamp::Now` within ten minutes of this clock.
// - State is read only with storage proofs (`state_getReadProof`) checked against the verified
//   head's state root, by walking the proof's trie here (substrate's V1 node codec). Lists are
//   proven complete: every key under the prefix must be reachable in the proven trie, so a key the
//   node leaves out of its listing leaves a trie node missing, and the read fails.
// A read the proof does not cover is an error that says so; it is never taken for "absent".
//
// web/tests/verified.test.ts checks all of this against vectors made by the Rust wallet's own
// verifier (web/tests/proofs.json), and the portal's end-to-end test runs every read through it.

import { ed25519 } from '@noble/curves/ed25519.js';
import { blake2_256, compact, concat, hex, u32le, u64le, unhex } from './crypto';
import { UserError } from './errors';

/** The runtime `phr portal` was built with: its spec version and metadata (0x-hex, the
 *  `RuntimeMetadataPrefixed` the runtime's own code makes). Chain state is decoded, and
 *  transactions encoded, by it and never by what a node says the metadata is. */
export type Pinned = { specVersion: number; metadata: string };

/** What the portal trusts, as the Rust wallet keeps it (`<wallet>.chain.json`). */
export type Anchor = {
  genesis: string;
  setId: number;
  /** The SCALE-encoded `AuthorityList`, 0x-hex. */
  authorities: string;
  setStart: string;
  setStartNumber: number;
  seen: number;
};

/** A finalized header the portal checked. */
export type Head = { hash: Uint8Array; number: number; stateRoot: Uint8Array };

/** A proof that does not reach what was asked for: a key or trie node left out. */
export class Incomplete extends Error {}

/** How far behind the highest block this browser verified a node may say it is. */
const MAX_LAG = 64;
/** The oldest finalized head accepted, by its proven timestamp against this clock. */
export const MAX_HEAD_AGE_MS = 600_000;

// ---- SCALE ----

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  u8(): number {
    if (this.pos >= this.bytes.length) throw new Error('input ends early');
    return this.bytes[this.pos++];
  }
  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.bytes.length) throw new Error('input ends early');
    return this.bytes.subarray(this.pos, (this.pos += n));
  }
  u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }
  u64(): bigint {
    const b = this.take(8);
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }
  compact(): number {
    const first = this.u8();
    switch (first & 3) {
      case 0: return first >> 2;
      case 1: return ((first | (this.u8() << 8)) >>> 2);
      case 2: return (((first | (this.u8() << 8) | (this.u8() << 16) | (this.u8() << 24)) >>> 0) >>> 2);
      default: {
        const len = (first >> 2) + 4;
        const b = this.take(len);
        let v = 0;
        for (let i = len - 1; i >= 0; i--) v = v * 256 + b[i];
        if (!Number.isSafeInteger(v)) throw new Error('a length beyond reason');
        return v;
      }
    }
  }
  vec(): Uint8Array {
    return this.take(this.compact());
  }
  end() {
    if (this.pos !== this.bytes.length) throw new Error('trailing bytes');
  }
}

export type Authority = { id: Uint8Array; weight: bigint };

function readAuthorities(r: Reader): Authority[] {
  const n = r.compact();
  const list: Authority[] = [];
  for (let i = 0; i < n; i++) list.push({ id: r.take(32), weight: r.u64() });
  return list;
}

export function decodeAuthorities(encoded: string): Authority[] {
  const r = new Reader(unhex(encoded));
  const list = readAuthorities(r);
  r.end();
  return list;
}

function encodeAuthorities(list: Authority[]): string {
  const parts: Uint8Array[] = [compact(list.length)];
  for (const a of list) parts.push(a.id, u64le(a.weight));
  return '0x' + hex(concat(...parts));
}

// ---- headers, justifications, warp proofs ----

export type Header = { hash: Uint8Array; parent: Uint8Array; number: number; stateRoot: Uint8Array; handOff: Authority[] | null };

const FRNK = 0x4b4e5246; // b"FRNK" read as a little-endian u32

function readHeader(r: Reader): Header {
  const start = r.pos;
  const parent = r.take(32);
  const number = r.compact();
  const stateRoot = r.take(32);
  r.take(32); // extrinsics root
  let handOff: Authority[] | null = null;
  const items = r.compact();
  for (let i = 0; i < items; i++) {
    const tag = r.u8();
    if (tag === 0) r.vec(); // Other
    else if (tag === 4 || tag === 5 || tag === 6) {
      const engine = new Reader(r.take(4)).u32();
      const data = r.vec();
      // The first GRANDPA ScheduledChange names the next set (as `convert_first` takes it).
      if (tag === 4 && engine === FRNK && handOff === null && data[0] === 1) {
        try {
          const log = new Reader(data);
          log.u8();
          const next = readAuthorities(log);
          log.u32(); // delay
          log.end();
          handOff = next;
        } catch {
          // Not a ScheduledChange after all: not a hand-off.
        }
      }
    } else if (tag === 8) {
      // RuntimeEnvironmentUpdated: no data.
    } else throw new Error(`an unknown digest item (${tag})`);
  }
  return { hash: blake2_256(r.bytes.subarray(start, r.pos)), parent, number, stateRoot, handOff };
}

type SignedPrecommit = { target: Uint8Array; number: number; signature: Uint8Array; id: Uint8Array };
export type Justification = { round: bigint; target: Uint8Array; number: number; precommits: SignedPrecommit[]; ancestry: Header[] };

function readJustification(r: Reader): Justification {
  const round = r.u64();
  const target = r.take(32);
  const number = r.u32();
  const precommits: SignedPrecommit[] = [];
  for (let i = 0, n = r.compact(); i < n; i++) {
    precommits.push({ target: r.take(32), number: r.u32(), signature: r.take(64), id: r.take(32) });
  }
  const ancestry: Header[] = [];
  for (let i = 0, n = r.compact(); i < n; i++) ancestry.push(readHeader(r));
  return { round, target, number, precommits, ancestry };
}

export type WarpProof = { fragments: { header: Header; justification: Justification }[]; isFinished: boolean };

export function decodeWarpProof(bytes: Uint8Array): WarpProof {
  const r = new Reader(bytes);
  const fragments = [];
  for (let i = 0, n = r.compact(); i < n; i++) fragments.push({ header: readHeader(r), justification: readJustification(r) });
  const finished = r.u8();
  if (finished > 1) throw new Error('not a bool');
  r.end();
  return { fragments, isFinished: finished === 1 };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Checks that `j` finalizes `header` under set `setId`: every precommit signed by its voter for
 *  this round and set, every precommit for the header or a descendant shown in the votes'
 *  ancestry, more than two thirds of the set's weight behind the header, and no descendant with
 *  that much (the header is the precommit ghost, as `finality_grandpa::validate_commit` requires). */
export function checkJustification(j: Justification, header: Header, setId: number, authorities: Authority[]): void {
  if (!same(j.target, header.hash) || j.number !== header.number) {
    throw new Error(`a justification for block #${j.number} is given for another header`);
  }
  const weights = new Map(authorities.map((a) => [hex(a.id), a.weight]));
  const total = authorities.reduce((sum, a) => sum + a.weight, 0n);
  if (total === 0n) throw new Error('an empty authority set');
  const threshold = total - (total - 1n) / 3n;
  const ancestry = new Map(j.ancestry.map((h) => [hex(h.hash), h]));
  // For each block above the target that precommits reach: the voters behind it.
  const behind = new Map<string, Set<string>>([[hex(header.hash), new Set()]]);
  for (const p of j.precommits) {
    const message = concat(new Uint8Array([1]), p.target, u32le(p.number), u64le(j.round), u64le(BigInt(setId)));
    let valid = false;
    try {
      valid = ed25519.verify(p.signature, message, p.id);
    } catch {
      valid = false;
    }
    if (!valid) throw new Error(`block #${j.number}'s justification carries a signature that does not verify`);
    const voter = hex(p.id);
    if (!weights.has(voter)) continue;
    // Walk from the precommit's target down to the justified block.
    let at = p.target;
    let number = p.number;
    for (;;) {
      const key = hex(at);
      if (!behind.has(key)) behind.set(key, new Set());
      behind.get(key)!.add(voter);
      if (same(at, header.hash)) break;
      const h = ancestry.get(key);
      if (!h || h.number !== number || number <= header.number) {
        throw new Error(`block #${j.number}'s justification has a precommit for a block that does not descend from it`);
      }
      at = h.parent;
      number -= 1;
    }
  }
  const weight = (voters: Set<string>) => [...voters].reduce((sum, v) => sum + weights.get(v)!, 0n);
  for (const [block, voters] of behind) {
    const enough = weight(voters) >= threshold;
    if (block === hex(header.hash) ? !enough : enough) {
      throw new Error(`block #${j.number}'s justification lacks two thirds of authority set ${setId}`);
    }
  }
}

/** Follows `anchor` along a warp proof (each fragment's justification under the set in force, each
 *  but the last handing over to a next set); returns the last justified header. */
export function follow(anchor: Anchor, proof: WarpProof): Header | null {
  let authorities = decodeAuthorities(anchor.authorities);
  let last: Header | null = null;
  proof.fragments.forEach((fragment, i) => {
    const final = i + 1 === proof.fragments.length && proof.isFinished;
    // Right after a hand-off the latest justification can be the block the anchor moved to.
    if ('0x' + hex(fragment.header.hash) === anchor.setStart && final) {
      last = fragment.header;
      return;
    }
    checkJustification(fragment.justification, fragment.header, anchor.setId, authorities);
    const number = fragment.header.number;
    if (number < anchor.setStartNumber) throw new Error(`block #${number} is older than authority set ${anchor.setId}`);
    if (fragment.header.handOff) {
      authorities = fragment.header.handOff;
      anchor.setId += 1;
      anchor.authorities = encodeAuthorities(authorities);
      anchor.setStart = '0x' + hex(fragment.header.hash);
      anchor.setStartNumber = number;
    } else if (!final) {
      throw new Error(`block #${number} ends authority set ${anchor.setId} without naming the next`);
    }
    last = fragment.header;
  });
  return last;
}

// ---- the state trie (substrate's V1 node codec) ----

type Value = { inline: Uint8Array } | { hash: Uint8Array };
type Child = { inline: Uint8Array } | { hash: Uint8Array };
type TrieNode = { partial: number[]; value: Value | null; children: (Child | null)[] | null } | null;

function decodeNode(data: Uint8Array): TrieNode {
  const r = new Reader(data);
  const first = r.u8();
  if (first === 0) return null;
  let branch: boolean;
  let hasValue: boolean;
  let hashed = false;
  let prefixBits = 2;
  switch (first >> 6) {
    case 1: [branch, hasValue] = [false, true]; break;
    case 2: [branch, hasValue] = [true, false]; break;
    case 3: [branch, hasValue] = [true, true]; break;
    default:
      if (first >> 5 === 1) [branch, hasValue, hashed, prefixBits] = [false, true, true, 3];
      else if (first >> 4 === 1) [branch, hasValue, hashed, prefixBits] = [true, true, true, 4];
      else throw new Incomplete('a trie node in an unknown encoding');
  }
  const max = 255 >> prefixBits;
  let count = first & max;
  if (count === max) {
    count -= 1;
    for (;;) {
      const n = r.u8();
      if (n < 255) {
        count += n + 1;
        break;
      }
      count += 255;
    }
  }
  const packed = r.take(Math.ceil(count / 2));
  const partial: number[] = [];
  for (const b of packed) partial.push(b >> 4, b & 15);
  if (count % 2) {
    if (partial[0] !== 0) throw new Incomplete('a trie node with bad padding');
    partial.shift();
  }
  const readValue = (): Value => (hashed ? { hash: r.take(32) } : { inline: r.vec() });
  if (!branch) {
    const value = readValue();
    r.end();
    return { partial, value, children: null };
  }
  const bitmap = r.u8() | (r.u8() << 8);
  const value = hasValue ? readValue() : null;
  const children: (Child | null)[] = [];
  for (let i = 0; i < 16; i++) {
    if (bitmap & (1 << i)) {
      const bytes = r.vec();
      children.push(bytes.length === 32 ? { hash: bytes } : { inline: bytes });
    } else children.push(null);
  }
  r.end();
  return { partial, value, children };
}

const nibbles = (bytes: Uint8Array): number[] => Array.from(bytes).flatMap((b) => [b >> 4, b & 15]);
const fromNibbles = (n: number[]): Uint8Array => Uint8Array.from({ length: n.length / 2 }, (_, i) => (n[2 * i] << 4) | n[2 * i + 1]);

/** The trie nodes of read proofs, under one state root: a node is found only by its hash, so a
 *  node the proof left out, or one changed in transit, is never read. */
export class ProvenTrie {
  private readonly nodes = new Map<string, Uint8Array>();
  constructor(readonly root: Uint8Array) {}

  add(proof: Uint8Array[]) {
    for (const node of proof) this.nodes.set(hex(blake2_256(node)), node);
  }

  private byHash(hash: Uint8Array): Uint8Array {
    const node = this.nodes.get(hex(hash));
    if (!node) throw new Incomplete('a trie node the proof left out');
    return node;
  }

  private node(child: Child): TrieNode {
    return decodeNode('hash' in child ? this.byHash(child.hash) : child.inline);
  }

  private value(value: Value): Uint8Array {
    return 'inline' in value ? value.inline : this.byHash(value.hash);
  }

  /** The value under `key`, or null where the proof shows there is none. */
  get(key: Uint8Array): Uint8Array | null {
    const path = nibbles(key);
    let node = this.node({ hash: this.root });
    let at = 0;
    for (;;) {
      if (!node) return null;
      const { partial } = node;
      if (path.length - at < partial.length || partial.some((n, i) => path[at + i] !== n)) return null;
      at += partial.length;
      if (at === path.length) return node.value ? this.value(node.value) : null;
      const child = node.children?.[path[at]];
      if (!child) return null;
      at += 1;
      node = this.node(child);
    }
  }

  /** Every key under `prefix` with its value, in key order: all of them, or an `Incomplete`. */
  entries(prefix: Uint8Array): [Uint8Array, Uint8Array][] {
    const want = nibbles(prefix);
    const out: [Uint8Array, Uint8Array][] = [];
    const walk = (node: TrieNode, path: number[]) => {
      if (!node) return;
      const full = path.concat(node.partial);
      for (let i = 0; i < Math.min(full.length, want.length); i++) if (full[i] !== want[i]) return;
      if (node.value && full.length >= want.length && full.length % 2 === 0) out.push([fromNibbles(full), this.value(node.value)]);
      node.children?.forEach((child, i) => {
        if (!child) return;
        const depth = full.length;
        if (depth < want.length && want[depth] !== i) return;
        walk(this.node(child), full.concat([i]));
      });
    };
    walk(this.node({ hash: this.root }), []);
    return out;
  }
}

// ---- the anchor this browser keeps ----

const STORE = 'phr-chain-anchor';

/** The newer of the anchor the portal server gave and the one this browser verified since. */
export function loadAnchor(given: Anchor): Anchor {
  try {
    const stored: Anchor = JSON.parse(localStorage.getItem(STORE) ?? 'null');
    if (stored && stored.genesis === given.genesis && stored.setId >= given.setId) {
      return { ...stored, seen: Math.max(stored.seen, given.seen) };
    }
  } catch {
    // A damaged checkpoint: start again from the server's.
  }
  return { ...given };
}

export function saveAnchor(anchor: Anchor) {
  try {
    localStorage.setItem(STORE, JSON.stringify(anchor));
  } catch {
    // Private browsing without storage: verify from the server's anchor next time.
  }
}

/** What a verifying client needs from a node: its JSON-RPC. */
export type Rpc = { send<T = any>(method: string, params: unknown[]): Promise<T>; name: string };

export const lie = (rpc: Rpc, what: string) =>
  new UserError(`The node ${rpc.name} gave an answer that does not verify: ${what}. Nothing was sent or shown from it; choose another hospital's node.`);

const TIMESTAMP_NOW = unhex('0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb');
const LAST_RUNTIME_UPGRADE = unhex('0x26aa394eea5630e07c48ae0c9558cef7f9cce9c888469bb1a0dceaa129672ef8');

/** The node's latest finalized header, its finality checked from `trust` (and the checkpoint this
 *  browser keeps), its proven timestamp fresh; with `specVersion`, the runtime it proves
 *  (`System::LastRuntimeUpgrade`) must be that one. */
export async function verifiedHead(rpc: Rpc, trust: Anchor, now = Date.now(), specVersion?: number): Promise<Head> {
  const anchor = loadAnchor(trust);
  const genesis = String(await rpc.send('chain_getBlockHash', [0]));
  if (genesis !== anchor.genesis) {
    throw new UserError(`The node ${rpc.name} serves another chain (${genesis}) than the one this portal trusts (${anchor.genesis}): choose a node of your consortium.`);
  }
  let head: Header | null = null;
  for (;;) {
    const start = anchor.setStart;
    let proof: WarpProof;
    try {
      proof = decodeWarpProof(unhex(await rpc.send<string>('phr_finalityProof', [start])));
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw lie(rpc, `a finality proof that does not decode (${(error as Error).message})`);
    }
    if (proof.fragments.length === 0) throw lie(rpc, 'an empty finality proof');
    try {
      head = follow(anchor, proof) ?? head;
    } catch (error) {
      throw lie(rpc, (error as Error).message);
    }
    if (proof.isFinished || anchor.setStart === start) break;
  }
  if (!head) throw lie(rpc, 'a finality proof without a header');
  if (head.number + MAX_LAG < anchor.seen) {
    throw new UserError(`The node ${rpc.name} says block #${head.number} is its latest final one, but this browser verified #${anchor.seen} already: it is far behind or hides what happened since; choose another hospital's node.`);
  }
  const trie = new ProvenTrie(head.stateRoot);
  const keys = specVersion === undefined ? [TIMESTAMP_NOW] : [TIMESTAMP_NOW, LAST_RUNTIME_UPGRADE];
  const answer = await rpc.send<{ proof: string[] }>('state_getReadProof', [keys.map((k) => '0x' + hex(k)), '0x' + hex(head.hash)]);
  trie.add((answer?.proof ?? []).map(unhex));
  if (specVersion !== undefined) {
    let running: number;
    try {
      const raw = trie.get(LAST_RUNTIME_UPGRADE);
      if (!raw) throw new Incomplete('no runtime version');
      running = new Reader(raw).compact();
    } catch {
      throw lie(rpc, `no proven runtime version at block #${head.number}`);
    }
    if (running !== specVersion) {
      throw new UserError(`The chain runs runtime version ${running}, and this portal was built for version ${specVersion}: update phr (the portal comes with it) and reload.`);
    }
  }
  let moment: bigint;
  try {
    const raw = trie.get(TIMESTAMP_NOW);
    if (!raw || raw.length !== 8) throw new Incomplete('no timestamp');
    moment = new Reader(raw).u64();
  } catch {
    throw lie(rpc, `no proven timestamp at block #${head.number}`);
  }
  const age = now - Number(moment);
  if (age > MAX_HEAD_AGE_MS) {
    throw new UserError(`The node ${rpc.name} says block #${head.number}, ${Math.round(age / 1000)} s old, is its latest final one: it hides what happened since, or finality is stalled; choose another hospital's node.`);
  }
  anchor.seen = Math.max(anchor.seen, head.number);
  saveAnchor(anchor);
  return { hash: head.hash, number: head.number, stateRoot: head.stateRoot };
}

/** Keys per `state_getKeysPaged` page and per read proof. */
const PAGE = 1000;

/** Chain state at a verified head: each value read with its proof. */
export class ProvenState {
  private readonly trie: ProvenTrie;
  constructor(private readonly rpc: Rpc, readonly head: Head) {
    this.trie = new ProvenTrie(head.stateRoot);
  }

  private at = () => '0x' + hex(this.head.hash);

  private fail(error: unknown): never {
    if (error instanceof Incomplete) {
      throw lie(this.rpc, `a state proof that does not cover what it should at block #${this.head.number} (keys or trie nodes left out)`);
    }
    throw error;
  }

  /** Fetches the proofs of `keys` (present or absent). */
  async prove(keys: Uint8Array[]) {
    for (let i = 0; i < keys.length; i += PAGE) {
      const page = keys.slice(i, i + PAGE).map((k) => '0x' + hex(k));
      const answer = await this.rpc.send<{ proof: string[] }>('state_getReadProof', [page, this.at()]);
      try {
        this.trie.add((answer?.proof ?? []).map(unhex));
      } catch {
        throw lie(this.rpc, 'a state proof that is not hex');
      }
    }
  }

  /** The proven values of `keys` (null where the proof shows none). */
  async values(keys: Uint8Array[]): Promise<(Uint8Array | null)[]> {
    await this.prove(keys);
    try {
      return keys.map((k) => this.trie.get(k));
    } catch (error) {
      this.fail(error);
    }
  }

  /** Every key under `prefix` with its value: the node lists the keys, and the proven trie must
   *  hold every one there is (a key left out of the list leaves its trie node missing). */
  async entries(prefix: Uint8Array): Promise<[Uint8Array, Uint8Array][]> {
    const keys: Uint8Array[] = [prefix];
    let start: string | null = null;
    for (;;) {
      const page: string[] = await this.rpc.send('state_getKeysPaged', ['0x' + hex(prefix), PAGE, start, this.at()]);
      keys.push(...page.map(unhex));
      if (page.length < PAGE) break;
      start = page[page.length - 1];
    }
    await this.prove(keys);
    try {
      return this.trie.entries(prefix);
    } catch (error) {
      this.fail(error);
    }
  }
}
