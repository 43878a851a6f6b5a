// The portal's cryptography: the same bytes as the `phr` wallet (wallet/src/crypto.rs,
// crypto/src/lib.rs, crypto/src/escrow.rs, primitives/src/request.rs), with audited JS libraries
// only: @noble/ciphers (ChaCha20-Poly1305), @noble/hashes (BLAKE2b, BLAKE3, Argon2id), @noble/curves
// (ed25519) and @hpke/* (RFC 9180). web/tests/crypto.test.ts checks every function here against
// vectors the Rust code made (web/tests/vectors.json).

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { CipherSuite } from '@hpke/core';
import { DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/dhkem-x25519';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';

export class CryptoError extends Error {
  name = 'CryptoError';
}

export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
export function unhex(text: string): Uint8Array {
  const clean = text.startsWith('0x') ? text.slice(2) : text;
  if (clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) throw new CryptoError('not hex');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
export const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
export const blake2_256 = (data: Uint8Array): Uint8Array => blake2b(data, { dkLen: 32 });

// ---- SCALE pieces (little-endian integers, compact lengths) ----

export const u32le = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
export const u64le = (n: bigint | number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
export function compact(n: number): Uint8Array {
  if (n < 1 << 6) return new Uint8Array([n << 2]);
  if (n < 1 << 14) return new Uint8Array([((n << 2) | 1) & 0xff, n >> 6]);
  if (n < 1 << 30) return u32le(((n << 2) | 2) >>> 0);
  throw new CryptoError('length too large');
}
export const bytesWithLength = (b: Uint8Array): Uint8Array => concat(compact(b.length), b);

// ---- The PHRC ciphertext: ChaCha20-Poly1305 in STREAM (aead crate's StreamBE32) ----
//   "PHRC" | version 2 | chunk size (u32 BE) | nonce prefix (7) | chunks (each + 16-byte tag)
// Each chunk's nonce is prefix | counter (u32 BE) | last-chunk flag; the header is the AAD.
// The version names the record hash too (primitives/src/records.rs, CiphertextHasher): a version-2
// ciphertext is registered under its BLAKE3-256, any other bytes (version 1, sealed before) under
// their blake2b-256. Both versions open.

const MAGIC = [0x50, 0x48, 0x52, 0x43];
const VERSION = 2;

/** The hash the chain registers for a record's ciphertext (and a reader checks). */
export function recordHash(ciphertext: Uint8Array): Uint8Array {
  const format2 = ciphertext.length >= 5 && MAGIC.every((b, i) => ciphertext[i] === b) && ciphertext[4] === VERSION;
  return format2 ? blake3(ciphertext, { dkLen: 32 }) : blake2_256(ciphertext);
}
export const PLAINTEXT_CHUNK = 64 * 1024;
const TAG = 16;
export const HEADER_LEN = 16;

function chunkNonce(prefix: Uint8Array, counter: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(7, counter, false);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

export const ciphertextLength = (len: number): number =>
  HEADER_LEN + len + (len === 0 ? 1 : Math.ceil(len / PLAINTEXT_CHUNK)) * TAG;

/** Encrypts `plain` under `key`; `progress` hears the plaintext bytes done. */
export function sealRecord(key: Uint8Array, plain: Uint8Array, progress?: (done: number) => void): Uint8Array {
  const prefix = random(7);
  const header = new Uint8Array(HEADER_LEN);
  header.set(MAGIC, 0);
  header[4] = VERSION;
  new DataView(header.buffer).setUint32(5, PLAINTEXT_CHUNK, false);
  header.set(prefix, 9);
  const out = new Uint8Array(ciphertextLength(plain.length));
  out.set(header, 0);
  let at = HEADER_LEN;
  const chunks = plain.length === 0 ? 1 : Math.ceil(plain.length / PLAINTEXT_CHUNK);
  for (let i = 0; i < chunks; i++) {
    const piece = plain.subarray(i * PLAINTEXT_CHUNK, (i + 1) * PLAINTEXT_CHUNK);
    const sealed = chacha20poly1305(key, chunkNonce(prefix, i, i === chunks - 1), header).encrypt(piece);
    out.set(sealed, at);
    at += sealed.length;
    progress?.(Math.min(plain.length, (i + 1) * PLAINTEXT_CHUNK));
  }
  return out;
}

/** Decrypts a whole PHRC ciphertext; any altered, missing, reordered or extra byte is an error. */
export function openRecord(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  if (sealed.length < HEADER_LEN || MAGIC.some((b, i) => sealed[i] !== b)) throw new CryptoError('this is not a PHR ciphertext');
  if (sealed[4] !== 1 && sealed[4] !== VERSION) throw new CryptoError(`ciphertext format ${sealed[4]} is not supported`);
  const header = sealed.subarray(0, HEADER_LEN);
  const chunk = new DataView(header.buffer, header.byteOffset).getUint32(5, false);
  if (chunk === 0 || chunk > 16 * 1024 * 1024) throw new CryptoError(`implausible chunk size ${chunk}`);
  const prefix = header.subarray(9, 16);
  const body = sealed.subarray(HEADER_LEN);
  const sealedChunk = chunk + TAG;
  const count = Math.max(1, Math.ceil(body.length / sealedChunk));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const piece = body.subarray(i * sealedChunk, (i + 1) * sealedChunk);
    if (piece.length < TAG) throw new CryptoError('the ciphertext is truncated');
    try {
      parts.push(chacha20poly1305(key, chunkNonce(prefix, i, i === count - 1), header).decrypt(piece));
    } catch {
      throw new CryptoError('the ciphertext was altered, or the data key is wrong');
    }
  }
  return concat(...parts);
}

// ---- HPKE (RFC 9180 base mode, X25519-HKDF-SHA256 / HKDF-SHA256 / ChaCha20-Poly1305) ----

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
const enc = new TextEncoder();

function context(label: string, record: bigint | number, dataEpoch: number, hospital?: number): Uint8Array {
  const parts = [enc.encode(label), u64le(record), u32le(dataEpoch)];
  if (hospital !== undefined) parts.push(u32le(hospital));
  return concat(...parts);
}
export const dataKeyInfo = (record: bigint | number, epoch: number) => context('phr-data-key-wrap-v1', record, epoch);
export const shareInfo = (record: bigint | number, epoch: number, hospital: number) =>
  context('phr-escrow-share-v1', record, epoch, hospital);
export const releaseInfo = (record: bigint | number, epoch: number, hospital: number) =>
  context('phr-escrow-release-v1', record, epoch, hospital);

/** Seals `plain` to the X25519 public key `recipient` under `info`: encapsulated key | ciphertext. */
export async function sealTo(recipient: Uint8Array, info: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  const recipientPublicKey = await suite.kem.deserializePublicKey(recipient);
  const { ct, enc: encapped } = await suite.seal({ recipientPublicKey, info }, plain);
  return concat(new Uint8Array(encapped), new Uint8Array(ct));
}

/** Opens what `sealTo` sealed to the key whose secret is `secret`. */
export async function openWith(secret: Uint8Array, info: Uint8Array, wrapped: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length < 48) throw new CryptoError('does not open with this key');
  try {
    const recipientKey = await suite.kem.deserializePrivateKey(secret);
    const plain = await suite.open({ recipientKey, enc: wrapped.slice(0, 32), info }, wrapped.slice(32));
    return new Uint8Array(plain);
  } catch {
    throw new CryptoError('does not open with this key: it is for another key or context, or was altered');
  }
}

/** A fresh X25519 key pair (the secret is 32 random bytes, as the Rust side keeps it). */
export async function newEncryptionKey(): Promise<{ secret: Uint8Array; public: Uint8Array }> {
  const secret = random(32);
  return { secret, public: await x25519Public(secret) };
}
export const x25519Public = async (secret: Uint8Array): Promise<Uint8Array> => x25519.getPublicKey(secret);

export const wrapDataKey = (key: Uint8Array, recipient: Uint8Array, record: bigint | number, epoch: number) =>
  sealTo(recipient, dataKeyInfo(record, epoch), key);
export async function unwrapDataKey(wrapped: Uint8Array, secret: Uint8Array, record: bigint | number, epoch: number) {
  if (wrapped.length !== 80) throw new CryptoError('the wrapped data key has the wrong length');
  return openWith(secret, dataKeyInfo(record, epoch), wrapped);
}

// ---- Threshold escrow: Shamir over GF(256) with x^8+x^4+x^3+x^2+1 (the blahaj crate's field) ----

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let v = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = v;
    LOG[v] = i;
    v <<= 1;
    if (v & 0x100) v ^= 0x11d;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255];
}
const gfMul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);
const gfDiv = (a: number, b: number) => {
  if (b === 0) throw new CryptoError('division by zero');
  return a === 0 ? 0 : EXP[(LOG[a] + 255 - LOG[b]) % 255];
};

export type Share = { threshold: number; x: number; y: Uint8Array };

/** The shares that recover a key escrowed among `members` hospitals (all but the f GRANDPA tolerates). */
export const threshold = (members: number): number => Math.max(1, members - Math.floor((members - 1) / 3));

/** Splits `key` into `count` shares at x = 1..count, any `t` of which recover it. */
export function splitKey(key: Uint8Array, t: number, count: number): Share[] {
  if (t < 1 || t > count || count > 255) throw new CryptoError(`a threshold of ${t} of ${count} shares`);
  const shares = Array.from({ length: count }, (_, i) => ({ threshold: t, x: i + 1, y: new Uint8Array(key.length) }));
  for (let byte = 0; byte < key.length; byte++) {
    // Coefficients from the highest degree down; the constant term is the secret byte.
    const coefficients = [...random(t - 1), key[byte]];
    for (const share of shares) {
      share.y[byte] = coefficients.reduce((acc, c) => gfMul(acc, share.x) ^ c, 0);
    }
  }
  return shares;
}

/** Recovers the key from `threshold` shares of distinct x (Lagrange interpolation at 0). */
export function combineShares(shares: Share[]): Uint8Array {
  if (shares.length === 0) throw new CryptoError('no shares');
  const t = shares[0].threshold;
  const distinct: Share[] = [];
  for (const s of shares) {
    if (s.threshold !== t) throw new CryptoError('the shares name different thresholds');
    if (s.x === 0) throw new CryptoError('a share at x = 0');
    if (!distinct.some((d) => d.x === s.x)) distinct.push(s);
  }
  if (distinct.length < t) throw new CryptoError(`${distinct.length} distinct shares, ${t} needed`);
  const used = distinct.slice(0, t);
  const key = new Uint8Array(used[0].y.length);
  for (let byte = 0; byte < key.length; byte++) {
    let sum = 0;
    for (const si of used) {
      let product = 1;
      for (const sj of used) if (sj.x !== si.x) product = gfMul(product, gfDiv(sj.x, sj.x ^ si.x));
      sum ^= gfMul(product, si.y[byte]);
    }
    key[byte] = sum;
  }
  return key;
}

export const encodeShare = (s: Share): Uint8Array => concat(new Uint8Array([s.threshold, s.x]), s.y);
export function decodeShare(bytes: Uint8Array): Share {
  if (bytes.length !== 34) throw new CryptoError('not a valid escrow share');
  return { threshold: bytes[0], x: bytes[1], y: bytes.slice(2) };
}
export const sealShare = (s: Share, escrowKey: Uint8Array, record: bigint | number, epoch: number, hospital: number) =>
  sealTo(escrowKey, shareInfo(record, epoch, hospital), encodeShare(s));
export async function openReleased(secret: Uint8Array, released: Uint8Array, record: bigint | number, epoch: number, hospital: number) {
  return decodeShare(await openWith(secret, releaseInfo(record, epoch, hospital), released));
}

// ---- Signed blob requests (primitives/src/request.rs, SCALE) ----

export type Purpose = { kind: 'treatment' } | { kind: 'emergency' } | { kind: 'research'; code: number };
export type BlobMethod =
  | { kind: 'uploadCiphertext'; size: number }
  | { kind: 'uploadWrappedKey'; recipient: Uint8Array; dataEpoch: number; recipientEpoch: number; wrapped: Uint8Array }
  | { kind: 'fetch'; purpose: Purpose }
  | { kind: 'status' }
  | { kind: 'receipts'; batch: number }
  | { kind: 'releaseShare'; emergency: number };
export type BlobSubject =
  | { kind: 'record'; record: bigint | number }
  | { kind: 'ciphertext'; hash: Uint8Array }
  | { kind: 'patient'; account: Uint8Array };
export type BlobRequest = {
  genesis: Uint8Array;
  node: Uint8Array;
  method: BlobMethod;
  account: Uint8Array;
  subject: BlobSubject;
  nonce: Uint8Array;
  expiresAtMs: number;
};

const SIGNING_CONTEXT = enc.encode('phr-blob-request-v2');

function encodePurpose(p: Purpose): Uint8Array {
  if (p.kind === 'treatment') return new Uint8Array([0]);
  if (p.kind === 'emergency') return new Uint8Array([1]);
  return concat(new Uint8Array([2]), u32le(p.code));
}
function encodeMethod(m: BlobMethod): Uint8Array {
  switch (m.kind) {
    case 'uploadCiphertext':
      return concat(new Uint8Array([0]), u64le(m.size));
    case 'uploadWrappedKey':
      return concat(new Uint8Array([1]), m.recipient, u32le(m.dataEpoch), u32le(m.recipientEpoch), m.wrapped);
    case 'fetch':
      return concat(new Uint8Array([2]), encodePurpose(m.purpose));
    case 'status':
      return new Uint8Array([3]);
    case 'receipts':
      return concat(new Uint8Array([4]), u64le(m.batch));
    case 'releaseShare':
      return concat(new Uint8Array([5]), u64le(m.emergency));
  }
}
function encodeSubject(s: BlobSubject): Uint8Array {
  if (s.kind === 'record') return concat(new Uint8Array([0]), u64le(s.record));
  if (s.kind === 'ciphertext') return concat(new Uint8Array([1]), s.hash);
  return concat(new Uint8Array([2]), s.account);
}
export const encodeRequest = (r: BlobRequest): Uint8Array =>
  concat(r.genesis, bytesWithLength(r.node), encodeMethod(r.method), r.account, encodeSubject(r.subject), r.nonce, u64le(r.expiresAtMs));

/** The exact bytes the request key signs: the context (with its length) and the request. */
export const signingPayload = (r: BlobRequest): Uint8Array => concat(bytesWithLength(SIGNING_CONTEXT), encodeRequest(r));

/** The SCALE encoding of the signed request the node's `phr_` methods take (as 0x-hex). */
export function signRequest(r: BlobRequest, seed: Uint8Array): Uint8Array {
  const signature = ed25519.sign(signingPayload(r), seed);
  return concat(encodeRequest(r), ed25519.getPublicKey(seed), signature);
}
export const requestPublicKey = (seed: Uint8Array): Uint8Array => ed25519.getPublicKey(seed);

// ---- Read receipts: a SCALE reader for (ReadReceipt, InclusionProof) and the Merkle check ----

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new CryptoError('a receipt does not decode: too short');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8 = () => this.take(1)[0];
  u32 = () => new DataView(this.take(4).slice().buffer).getUint32(0, true);
  u64 = () => new DataView(this.take(8).slice().buffer).getBigUint64(0, true);
  compact(): number {
    const first = this.bytes[this.at];
    const mode = first & 3;
    if (mode === 0) return this.u8() >> 2;
    if (mode === 1) return (this.u8() | (this.u8() << 8)) >> 2;
    if (mode === 2) return this.u32() >>> 2;
    throw new CryptoError('a receipt does not decode: a length too large');
  }
}

export type Basis =
  | { kind: 'owner' } | { kind: 'guardian' } | { kind: 'grant'; id: bigint } | { kind: 'emergency'; id: bigint } | { kind: 'consent'; code: number };
export type Receipt = {
  request: { genesis: Uint8Array; node: Uint8Array; method: number; purpose?: Purpose; account: Uint8Array; subject: BlobSubject; expiresAtMs: bigint };
  signer: Uint8Array;
  signature: Uint8Array;
  signedBytes: Uint8Array;
  basis: Basis;
  decidedAt: Uint8Array;
  proof: { leafIndex: number; leafCount: number; siblings: Uint8Array[] };
  receiptBytes: Uint8Array;
};

/** Decodes a SCALE-encoded `(ReadReceipt, InclusionProof)` as `phr_receiptBatch` returns it. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  const r = new Reader(bytes);
  const genesis = r.take(32);
  const node = r.take(r.compact());
  const method = r.u8();
  let purpose: Purpose | undefined;
  if (method === 0) r.take(8);
  else if (method === 1) r.take(32 + 4 + 4 + 32);
  else if (method === 2) {
    const p = r.u8();
    purpose = p === 0 ? { kind: 'treatment' } : p === 1 ? { kind: 'emergency' } : { kind: 'research', code: r.u32() };
  } else if (method === 4 || method === 5) r.take(8);
  else if (method !== 3) throw new CryptoError('a receipt does not decode: unknown method');
  const account = r.take(32);
  const tag = r.u8();
  const subject: BlobSubject =
    tag === 0 ? { kind: 'record', record: r.u64() } : tag === 1 ? { kind: 'ciphertext', hash: r.take(32) } : { kind: 'patient', account: r.take(32) };
  r.take(16);
  const expiresAtMs = r.u64();
  const signedEnd = r.at;
  const signer = r.take(32);
  const signature = r.take(64);
  const b = r.u8();
  const basis: Basis =
    b === 0 ? { kind: 'owner' } : b === 1 ? { kind: 'guardian' } : b === 2 ? { kind: 'grant', id: r.u64() }
      : b === 3 ? { kind: 'emergency', id: r.u64() } : { kind: 'consent', code: r.u32() };
  const decidedAt = r.take(32);
  const receiptEnd = r.at;
  const leafIndex = r.u32();
  const leafCount = r.u32();
  const siblings = Array.from({ length: r.compact() }, () => r.take(32));
  if (r.at !== bytes.length) throw new CryptoError('a receipt does not decode: trailing bytes');
  return {
    request: { genesis, node, method, purpose, account, subject, expiresAtMs },
    signer, signature, signedBytes: bytes.slice(0, signedEnd), basis, decidedAt,
    proof: { leafIndex, leafCount, siblings }, receiptBytes: bytes.slice(0, receiptEnd),
  };
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Whether the receipt is in the anchored batch (`root`, `count`) at its index: the same fold as
 *  binary-merkle-tree's `verify_proof` over the blake2-256 of the receipt's hash. */
export function receiptInBatch(receipt: Receipt, root: Uint8Array, count: number): boolean {
  const { leafIndex, leafCount, siblings } = receipt.proof;
  if (leafCount !== count || leafIndex >= count) return false;
  let hash = blake2_256(blake2_256(receipt.receiptBytes));
  let position = leafIndex;
  let width = count;
  for (const sibling of siblings) {
    hash = position % 2 === 1 || position + 1 === width ? blake2_256(concat(sibling, hash)) : blake2_256(concat(hash, sibling));
    position = Math.floor(position / 2);
    width = Math.floor((width - 1) / 2) + 1;
  }
  return equal(hash, root);
}

/** Whether the reader really signed the request inside the receipt, for this chain. */
export function receiptSigned(receipt: Receipt, genesis: Uint8Array): boolean {
  const unsigned = receipt.signedBytes;
  try {
    return equal(receipt.request.genesis, genesis) &&
      ed25519.verify(receipt.signature, concat(bytesWithLength(SIGNING_CONTEXT), unsigned), receipt.signer);
  } catch {
    return false;
  }
}

// ---- The CLI wallet's file (wallet/src/keyfile.rs): Argon2id + ChaCha20-Poly1305 ----

export type WalletSecrets = { accountSecret: string; requestSeed: Uint8Array; encryptionKeys: { epoch: number; secret: Uint8Array }[] };

/** Opens a wallet file `phr keys new/import` wrote, with its passphrase. */
export async function openWalletFile(text: string, passphrase: string): Promise<{ account: string; secrets: WalletSecrets }> {
  let file: any;
  try {
    file = JSON.parse(text);
  } catch {
    throw new CryptoError('this is not a PHR wallet file (not JSON)');
  }
  if (file?.version !== 1 || file?.kdf?.algorithm !== 'argon2id') throw new CryptoError('this is not a PHR wallet file, or its format is not supported');
  const { memory_kib, iterations, parallelism, salt } = file.kdf;
  if (memory_kib > 1024 * 1024 || iterations > 16 || parallelism !== 1) throw new CryptoError('the wallet file asks for implausible key-derivation costs');
  const key = await argon2idAsync(enc.encode(passphrase), unhex(salt), { m: memory_kib, t: iterations, p: parallelism, dkLen: 32 });
  let plain: Uint8Array;
  try {
    plain = chacha20poly1305(key, unhex(file.nonce)).decrypt(unhex(file.sealed));
  } catch {
    throw new CryptoError('wrong passphrase for this wallet file');
  }
  const secrets = JSON.parse(new TextDecoder().decode(plain));
  return {
    account: file.account,
    secrets: {
      accountSecret: secrets.account_secret,
      requestSeed: unhex(secrets.request_seed),
      encryptionKeys: secrets.encryption_keys.map((k: any) => ({ epoch: k.epoch, secret: unhex(k.secret) })),
    },
  };
}
