// The portal's crypto against the vectors the Rust wallet made (wallet/src/vectors.rs): what the
// CLI wrote, the browser must open, recompute and verify byte for byte, and the reverse.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  blake2_256, recordHash, combineShares, decodeReceipt, decodeShare, encodeShare, hex, openRecord, openReleased, openWalletFile, openWith,
  receiptInBatch, receiptSigned, sealRecord, sealShare, shareInfo, signRequest, signingPayload, splitKey, threshold, unhex,
  unwrapDataKey, wrapDataKey, x25519Public, type BlobRequest, ciphertextLength, requestPublicKey,
} from '../src/crypto';
import { accountFromSecret } from '../src/keys';
import { canonicalJson, splitBundle } from '../src/bundle';

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8'));
const pattern = (len: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);

describe('PHRC ciphertext', () => {
  it('opens what the CLI sealed and hashes as the chain registered it', () => {
    for (const v of vectors.stream) {
      const sealed = unhex(v.ciphertext);
      expect(hex(openRecord(unhex(v.key), sealed))).toBe(hex(pattern(v.plaintextPattern)));
      expect(hex(recordHash(sealed))).toBe(v.recordHash);
    }
    // Both formats are among them: 2 (BLAKE3), and 1 as wallets sealed before (blake2b).
    const formats = vectors.stream.map((v: { ciphertext: string }) => unhex(v.ciphertext)[4]);
    expect(new Set(formats)).toEqual(new Set([1, 2]));
    const format1 = unhex(vectors.stream.find((v: { ciphertext: string }) => unhex(v.ciphertext)[4] === 1).ciphertext);
    expect(hex(recordHash(format1))).toBe(hex(blake2_256(format1)));
  });

  it('seals in the same layout, round trips, and refuses any change', () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    for (const len of [0, 1, 65535, 65536, 65537, 200000]) {
      const sealed = sealRecord(key, pattern(len));
      expect(sealed.length).toBe(ciphertextLength(len));
      expect(sealed[4], 'format 2').toBe(2);
      expect(hex(recordHash(sealed))).not.toBe(hex(blake2_256(sealed)));
      expect(hex(openRecord(key, sealed))).toBe(hex(pattern(len)));
    }
    const sealed = sealRecord(key, pattern(70000));
    for (const at of [0, 4, 6, 15, 16, 70000, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at] ^= 1;
      expect(() => openRecord(key, bad), `flip at ${at}`).toThrow();
    }
    expect(() => openRecord(key, sealed.slice(0, 16 + 65536 + 16)), 'truncated at a chunk boundary').toThrow();
    expect(() => openRecord(key, new Uint8Array([...sealed, 0])), 'appended').toThrow();
    expect(() => openRecord(crypto.getRandomValues(new Uint8Array(32)), sealed)).toThrow(/data key is wrong/);
  });
});

describe('HPKE data-key wraps', () => {
  it('unwraps the CLI wrap, only for its record and epoch', async () => {
    const w = vectors.wrap;
    expect(hex(await x25519Public(unhex(w.readerSecret)))).toBe(w.readerPublic);
    expect(hex(await unwrapDataKey(unhex(w.wrapped), unhex(w.readerSecret), w.record, w.dataEpoch))).toBe(w.dataKey);
    await expect(unwrapDataKey(unhex(w.wrapped), unhex(w.readerSecret), w.record + 1, w.dataEpoch)).rejects.toThrow();
    await expect(unwrapDataKey(unhex(w.wrapped), unhex(w.readerSecret), w.record, w.dataEpoch + 1)).rejects.toThrow();
  });

  it('wraps so that the same key opens it', async () => {
    const w = vectors.wrap;
    const wrapped = await wrapDataKey(unhex(w.dataKey), unhex(w.readerPublic), 9n, 1);
    expect(wrapped.length).toBe(80);
    expect(hex(await unwrapDataKey(wrapped, unhex(w.readerSecret), 9n, 1))).toBe(w.dataKey);
  });
});

describe('escrow shares', () => {
  it("combines the CLI's shares (GF(256) as blahaj) and splits shares that combine", () => {
    const e = vectors.escrow;
    const shares = e.shares.map((s: any) => decodeShare(unhex(s.encoded)));
    expect(hex(combineShares(shares.slice(1)))).toBe(e.key);
    expect(hex(combineShares([shares[0], shares[2], shares[3]]))).toBe(e.key);
    expect(hex(encodeShare(shares[0]))).toBe(e.shares[0].encoded);
    expect(() => combineShares(shares.slice(2))).toThrow(/needed/);
    const mine = splitKey(unhex(e.key), 3, 4);
    expect(hex(combineShares([mine[3], mine[0], mine[2]]))).toBe(e.key);
    // Rust's and the browser's shares lie on polynomials of the same field: any mix of 3 points
    // from one polynomial recovers it, so check the Rust shares against their own interpolation.
    expect([threshold(1), threshold(4), threshold(5), threshold(7), threshold(10)]).toEqual([1, 3, 4, 5, 7]);
  });

  it('opens a released share and seals shares that open under their context', async () => {
    const e = vectors.escrow;
    const released = await openReleased(unhex(e.openerSecret), unhex(e.released), e.record, e.dataEpoch, e.hospital);
    expect(hex(encodeShare(released))).toBe(e.shares[e.sealedShareIndex].encoded);
    const escrowPublic = await x25519Public(unhex(e.escrowSecret));
    const sealed = await sealShare(released, escrowPublic, 7, 3, 2);
    expect(hex(await openWith(unhex(e.escrowSecret), shareInfo(7, 3, 2), sealed))).toBe(e.shares[e.sealedShareIndex].encoded);
    await expect(openWith(unhex(e.escrowSecret), shareInfo(7, 3, 3), sealed), 'another hospital').rejects.toThrow();
  });
});

describe('signed blob requests', () => {
  it("encodes and signs exactly the CLI's bytes", () => {
    const r = vectors.requests;
    const seed = unhex(r.seed);
    expect(hex(requestPublicKey(seed))).toBe(r.signer);
    const node = unhex(r.items[0].encoded).slice(33, 33 + 38);
    const account = new Uint8Array(32).fill(0x22);
    const methods: [BlobRequest['method'], BlobRequest['subject']][] = [
      [{ kind: 'uploadCiphertext', size: 70000 }, { kind: 'ciphertext', hash: new Uint8Array(32).fill(0xab) }],
      [{ kind: 'uploadWrappedKey', recipient: new Uint8Array(32).fill(9), dataEpoch: 2, recipientEpoch: 1, wrapped: new Uint8Array(32).fill(7) }, { kind: 'record', record: 42n }],
      [{ kind: 'fetch', purpose: { kind: 'treatment' } }, { kind: 'record', record: 3n }],
      [{ kind: 'fetch', purpose: { kind: 'emergency' } }, { kind: 'record', record: 2n ** 64n - 2n }],
      [{ kind: 'fetch', purpose: { kind: 'research', code: 4711 } }, { kind: 'record', record: 5n }],
      [{ kind: 'receipts', batch: 12 }, { kind: 'patient', account: new Uint8Array(32).fill(5) }],
      [{ kind: 'releaseShare', emergency: 8 }, { kind: 'record', record: 6n }],
    ];
    methods.forEach(([method, subject], i) => {
      const request: BlobRequest = {
        genesis: new Uint8Array(32).fill(0x11), node, method, account, subject,
        nonce: new Uint8Array(16).fill(i), expiresAtMs: 1764000000000 + i,
      };
      expect(hex(signingPayload(request)), `payload ${i}`).toBe(r.items[i].signingPayload);
      expect(hex(signRequest(request, seed)), `signed ${i}`).toBe(r.items[i].encoded);
    });
  });
});

describe('read receipts', () => {
  it('verify against the anchored root, and fail when anything changes', () => {
    const r = vectors.receipts;
    const root = unhex(r.root);
    const genesis = new Uint8Array(32).fill(0x11);
    for (const item of r.items) {
      const receipt = decodeReceipt(unhex(item.encoded));
      expect(hex(blake2_256(receipt.receiptBytes))).toBe(item.hash);
      expect(receiptInBatch(receipt, root, r.count)).toBe(true);
      expect(receiptSigned(receipt, genesis)).toBe(true);
      expect(receiptSigned(receipt, new Uint8Array(32)), 'another chain').toBe(false);
      expect(receiptInBatch(receipt, root, r.count - 1), 'a shorter batch').toBe(false);
    }
    const altered = unhex(r.items[2].encoded);
    altered[40] ^= 1;
    const bad = decodeReceipt(altered);
    expect(receiptInBatch(bad, root, r.count) && receiptSigned(bad, genesis)).toBe(false);
    expect(decodeReceipt(unhex(r.items[3].encoded)).basis).toEqual({ kind: 'emergency', id: 9n });
  });
});

describe('the CLI wallet file', () => {
  it('opens with its passphrase and gives the same account and keys', async () => {
    const w = vectors.wallet;
    const opened = await openWalletFile(JSON.stringify(w.file), w.passphrase);
    expect(opened.account).toBe(w.account);
    expect(hex(requestPublicKey(opened.secrets.requestSeed))).toBe(w.requestPublic);
    const newest = opened.secrets.encryptionKeys.reduce((a, b) => (b.epoch > a.epoch ? b : a));
    expect(hex(await x25519Public(newest.secret))).toBe(w.encryptionPublic);
    expect((await accountFromSecret(opened.secrets.accountSecret)).address).toBe(w.account);
    await expect(openWalletFile(JSON.stringify(w.file), 'wrong')).rejects.toThrow(/passphrase/);
  }, 60000);
});

describe('FHIR Bundles', () => {
  it("split into the CLI's records, byte for byte", () => {
    const f = vectors.fhir;
    const split = splitBundle(new TextEncoder().encode(f.bundle))!;
    expect(split.map((r) => r.category)).toEqual(f.records.map((r: any) => r.category));
    split.forEach((r, i) => expect(new TextDecoder().decode(r.json)).toBe(f.records[i].json));
    expect(splitBundle(new TextEncoder().encode('{"resourceType":"Observation"}'))).toBeNull();
    expect(splitBundle(new Uint8Array([0, 1, 2]))).toBeNull();
    expect(() => splitBundle(new TextEncoder().encode('{"resourceType":"Bundle","entry":[]}'))).toThrow(/no entries/);
    expect(canonicalJson(JSON.parse('{"b":1,"a":[true,null,"x"]}'))).toBe('{"a":[true,null,"x"],"b":1}');
  });
});
