// The portal's verifier (src/verified.ts) against vectors the Rust wallet's verifier made
// (wallet/src/verified.rs, web/tests/proofs.json): it must read the same trie, reach the same head
// across the same hand-off, and refuse what the Rust side refuses. Then each lie a node could tell
// the browser, told by a node in miniature (an RPC object), must be caught.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hex, unhex } from '../src/crypto';
import {
  checkJustification, decodeAuthorities, decodeWarpProof, follow, Incomplete, ProvenState, ProvenTrie, verifiedHead, MAX_HEAD_AGE_MS, type Anchor, type Rpc,
} from '../src/verified';

const vectors = JSON.parse(readFileSync(new URL('./proofs.json', import.meta.url), 'utf8'));
const t = vectors.trie;
const w = vectors.warp;
const trieOf = (proof: string[]) => {
  const trie = new ProvenTrie(unhex(t.root));
  trie.add(proof.map(unhex));
  return trie;
};
const anchor = (): Anchor => ({ ...w.anchor });

describe('state proofs', () => {
  it('reads present and absent keys as the Rust wallet proved them', () => {
    const trie = trieOf(t.proof);
    for (const [key, value] of t.present) expect('0x' + hex(trie.get(unhex(key))!)).toBe(value);
    for (const key of t.absent) expect(trie.get(unhex(key))).toBeNull();
  });

  it('lists every key under a prefix; a key left out of the listing is refused, or found anyway', () => {
    const list = (trie: ProvenTrie, prefix: string) => trie.entries(unhex(prefix)).map(([k, v]) => ['0x' + hex(k), '0x' + hex(v)]);
    for (const p of t.prefixes) {
      expect(list(trieOf(p.proof), p.prefix)).toEqual(p.entries);
    }
    // Under hashed children, the key left out leaves its node missing.
    const [hashed, inline] = t.prefixes;
    expect(() => list(trieOf(hashed.leftOutProof), hashed.prefix)).toThrow(Incomplete);
    // Tiny leaves are inlined in their branch: the proof of the others holds it, so it is listed.
    expect(list(trieOf(inline.leftOutProof), inline.prefix)).toEqual(inline.entries);
  });

  it('never answers "absent" for what the proof does not cover', () => {
    // Every key's path, one node at a time taken out: the read fails, it is never null.
    const [key, value] = t.present[3];
    for (let i = 0; i < t.proof.length; i++) {
      const trie = trieOf(t.proof.filter((_: string, j: number) => j !== i));
      let read: string | null | 'refused';
      try {
        const v = trie.get(unhex(key));
        read = v === null ? null : '0x' + hex(v);
      } catch (error) {
        expect(error).toBeInstanceOf(Incomplete);
        read = 'refused';
      }
      expect([value, 'refused']).toContain(read);
    }
    // A node changed in transit is a node missing: its hash names another.
    const changed = t.proof.map((n: string) => n.replace(/.$/, (c: string) => (c === '0' ? '1' : '0')));
    expect(() => trieOf(changed).get(unhex(key))).toThrow(Incomplete);
    // A proof for another root proves nothing.
    const other = new ProvenTrie(new Uint8Array(32).fill(9));
    other.add(t.proof.map(unhex));
    expect(() => other.get(unhex(key))).toThrow(Incomplete);
  });
});

describe('GRANDPA finality', () => {
  it('follows the warp proof across the hand-off to the head the Rust wallet reached', () => {
    const a = anchor();
    const head = follow(a, decodeWarpProof(unhex(w.proof)))!;
    expect('0x' + hex(head.hash)).toBe(w.head.hash);
    expect('0x' + hex(head.stateRoot)).toBe(w.head.stateRoot);
    expect(a).toEqual(w.followed);
  });

  it('refuses what the Rust wallet refuses: short of two thirds, no hand-off, a moved signature', () => {
    for (const [name, proof] of Object.entries(w.refused)) {
      expect(() => follow(anchor(), decodeWarpProof(unhex(proof as string))), name).toThrow();
    }
  });

  it('binds each signature to its round and set, and the justification to its header', () => {
    const proof = decodeWarpProof(unhex(w.proof));
    const first = proof.fragments[0];
    const list = decodeAuthorities(anchor().authorities);
    expect(() => checkJustification(first.justification, first.header, 0, list)).not.toThrow();
    expect(() => checkJustification(first.justification, first.header, 1, list)).toThrow(/signature/);
    expect(() => checkJustification({ ...first.justification, round: first.justification.round + 1n }, first.header, 0, list)).toThrow(/signature/);
    expect(() => checkJustification(first.justification, proof.fragments[1].header, 0, list)).toThrow(/another header/);
    // The same votes counted twice are one voter's.
    const three = first.justification.precommits.slice(0, 2);
    expect(() => checkJustification({ ...first.justification, precommits: [...three, ...three] }, first.header, 0, list)).toThrow(/two thirds/);
  });

  it('a warp proof that does not decode whole is refused', () => {
    expect(() => decodeWarpProof(unhex(w.proof + '00'))).toThrow();
    expect(() => decodeWarpProof(unhex(w.proof).subarray(0, 100))).toThrow();
  });
});

/** A node in miniature: the vectors' chain, with `lies` rewriting its answers. */
function node(lies: Partial<Record<string, (params: unknown[]) => unknown>> = {}): Rpc {
  const honest: Record<string, (params: unknown[]) => unknown> = {
    chain_getBlockHash: () => w.anchor.genesis,
    phr_finalityProof: () => w.proof,
    state_getReadProof: () => ({ at: w.head.hash, proof: t.proof }),
    state_getKeysPaged: ([prefix]) => t.prefixes.find((p: any) => p.prefix === prefix).entries.map(([k]: string[]) => k),
  };
  return {
    name: 'H9 (test)',
    send: async (method: string, params: unknown[]) => (lies[method] ?? honest[method])(params) as any,
  };
}

describe('a verified head and proven state from one node', () => {
  const now = 1_700_000_000_000 + 1000;

  it('an honest node: its head verifies, its state reads, its lists are complete', async () => {
    const head = await verifiedHead(node(), anchor(), now);
    expect(head.number).toBe(20);
    const rpc = node({ state_getReadProof: ([keys]) => ({ proof: t.prefixes.find((p: any) => (keys as string[])[0] === p.prefix)?.proof ?? t.proof }) });
    const state = new ProvenState(rpc, head);
    const p = t.prefixes[0];
    expect((await state.entries(unhex(p.prefix))).length).toBe(p.entries.length);
  });

  it('each lie is caught alone', async () => {
    await expect(verifiedHead(node({ chain_getBlockHash: () => '0x' + '11'.repeat(32) }), anchor(), now)).rejects.toThrow(/another chain/);
    await expect(verifiedHead(node({ phr_finalityProof: () => w.refused.short }), anchor(), now)).rejects.toThrow(/does not verify.*two thirds/);
    await expect(verifiedHead(node({ phr_finalityProof: () => '0x0001' }), anchor(), now)).rejects.toThrow(/empty finality proof/);
    await expect(verifiedHead(node({ phr_finalityProof: () => '0x00' }), anchor(), now)).rejects.toThrow(/does not decode/);
    await expect(verifiedHead(node(), anchor(), now + MAX_HEAD_AGE_MS + 5000)).rejects.toThrow(/s old/);
    await expect(verifiedHead(node({ state_getReadProof: () => ({ proof: [] }) }), anchor(), now)).rejects.toThrow(/no proven timestamp/);
    await expect(verifiedHead(node(), { ...anchor(), seen: 200 }, now)).rejects.toThrow(/verified #200 already/);
    // The runtime the chain proves it runs must be the one the portal decodes with.
    expect((await verifiedHead(node(), anchor(), now, 106)).number).toBe(20);
    await expect(verifiedHead(node(), anchor(), now, 107)).rejects.toThrow(/runs runtime version 106, and this portal was built for version 107/);
    // A listing with a key left out.
    const head = await verifiedHead(node(), anchor(), now);
    const p = t.prefixes[0];
    const hiding = node({
      state_getKeysPaged: () => p.entries.map(([k]: string[]) => k).filter((_: string, i: number) => i !== 5),
      state_getReadProof: () => ({ proof: p.leftOutProof }),
    });
    await expect(new ProvenState(hiding, head).entries(unhex(p.prefix))).rejects.toThrow(/keys or trie nodes left out/);
  });
});
