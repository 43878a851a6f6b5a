// One node of the consortium, as the browser talks to it: @polkadot/api over the node's WebSocket
// JSON-RPC (metadata-driven: calls, runtime APIs and errors come from the runtime's metadata), and
// the node's `phr_` methods for ciphertext, each request signed here with the request key.

import { ApiPromise, WsProvider } from '@polkadot/api';
import type { SubmittableExtrinsic } from '@polkadot/api/types';
import { web3FromAddress } from '@polkadot/extension-dapp';
import { base58Decode, decodeAddress } from '@polkadot/util-crypto';
import { blake2_256, hex, random, recordHash, signRequest, unhex, type BlobMethod, type BlobSubject } from './crypto';
import { blobError, UserError } from './errors';
import type { Vault } from './keys';
import { ProvenState, verifiedHead, type Anchor, type Head, type Pinned, type Rpc } from './verified';

/** A node as the portal server names it: its WebSocket RPC and, when it runs one, its binary
 *  endpoint (ciphertext as raw bytes over HTTP: `PUT /upload/<token>`, `GET /session/<token>`). */
export type NodeInfo = { name: string; url: string; blob?: string | null };

/** How long a verified head is reused: the reads of one action share it (a transaction that
 *  becomes final drops it at once). */
const HEAD_REUSE_MS = 1000;

/** How long a signed `phr_` request stays valid. */
const REQUEST_LIFETIME_MS = 120_000;
/** Bytes per upload chunk: the node's chunk size. */
export const UPLOAD_CHUNK = 1024 * 1024;

const toBase64 = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
export const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export class Session {
  private constructor(
    readonly node: NodeInfo,
    readonly api: ApiPromise,
    readonly genesis: Uint8Array,
    readonly peer: Uint8Array,
    private readonly provider: WsProvider,
    readonly trust: Anchor,
    readonly pinned: Pinned,
  ) {}

  private head?: { at: number; head: Promise<Head> };
  /** The block the page's latest final transaction is in: later reads must include it (a
   *  revocation, above all: the re-keying after it must not wrap new keys for the reader it
   *  revoked). */
  private minHead = 0;

  /** The node's JSON-RPC as the verifier calls it: a refusal becomes a sentence. */
  private get rpc(): Rpc {
    return {
      name: `${this.node.name} (${this.node.url})`,
      send: (method, params) => this.provider.send(method, params).catch((error: any) => {
        throw new UserError(`The node ${this.node.name} refused ${method} (${error?.message ?? error}): choose another hospital's node.`);
      }),
    };
  }

  static async connect(node: NodeInfo, trust: Anchor, pinned: Pinned): Promise<Session> {
    const provider = new WsProvider(node.url, 2500);
    // The runtime's metadata comes with the portal (`phr portal`, from the runtime it was built
    // with), keyed by the trusted genesis: a node's own metadata is never used to decode or encode.
    const metadata = { [`${trust.genesis}-${pinned.specVersion}`]: pinned.metadata as `0x${string}` };
    const api = await Promise.race([
      ApiPromise.create({ provider, metadata, noInitWarn: true, throwOnConnect: true, signedExtensions: { RegisteredSigner: { extrinsic: {}, payload: {} } } }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new UserError(`The node ${node.name} (${node.url}) cannot be reached: check that it runs, or choose another hospital.`)), 15000)),
    ]).catch((error) => {
      void provider.disconnect();
      throw error instanceof UserError ? error : new UserError(`The node ${node.name} (${node.url}) cannot be reached: check that it runs, or choose another hospital.`);
    });
    const peerId = (await api.rpc.system.localPeerId()).toString();
    const session = new Session(node, api, api.genesisHash.toU8a(), base58Decode(peerId), provider, trust, pinned);
    try {
      session.checkRuntime();
    } catch (error) {
      void api.disconnect();
      throw error;
    }
    return session;
  }

  private checkedMetadata?: unknown;

  /** The api still encodes and decodes with the portal's own metadata, for the trusted chain (a
   *  node that announces a runtime upgrade, or another chain, would make it take the node's). */
  checkRuntime() {
    const genesis = this.api.genesisHash.toHex();
    if (genesis !== this.trust.genesis) {
      throw new UserError(`The node ${this.node.name} serves another chain (${genesis}) than the one this portal trusts (${this.trust.genesis}): choose a node of your consortium.`);
    }
    const spec = this.api.runtimeVersion.specVersion.toNumber();
    if (spec !== this.pinned.specVersion) {
      throw new UserError(`The node ${this.node.name} runs runtime version ${spec}, and this portal was built for version ${this.pinned.specVersion}: update phr (the portal comes with it) and reload.`);
    }
    // With the trusted genesis and the portal's version, the api took the portal's metadata when
    // it connected (checked once, byte for byte); it must keep that one.
    if (this.checkedMetadata === undefined && this.api.runtimeMetadata.toHex() === this.pinned.metadata) {
      this.checkedMetadata = this.api.runtimeMetadata;
    }
    if (this.api.runtimeMetadata !== this.checkedMetadata) {
      throw new UserError(`The node ${this.node.name} made this page take other runtime metadata than the portal's own: reload, or choose another hospital's node.`);
    }
  }

  disconnect = () => this.api.disconnect();

  /** The latest finalized header, its finality checked here (docs/verified-reads.md), at or
   *  after the block of the page's latest final transaction. */
  verifiedHead(): Promise<Head> {
    if (!this.head || Date.now() - this.head.at > HEAD_REUSE_MS) {
      const head = this.headAtLeast(this.minHead);
      this.head = { at: Date.now(), head };
      head.catch(() => (this.head = undefined));
    }
    return this.head.head;
  }

  /** A verified head at block `number` or later: the node's latest justification can trail the
   *  block a transaction was reported final in by a round. */
  private async headAtLeast(number: number): Promise<Head> {
    const started = Date.now();
    for (;;) {
      const head = await verifiedHead(this.rpc, this.trust, Date.now(), this.pinned.specVersion);
      if (head.number >= number) return head;
      if (Date.now() - started > 30_000) {
        throw new UserError(`The node ${this.node.name} proves finality only up to block #${head.number}, and your transaction is final at #${number}: try again, or choose another hospital's node.`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Chain state at the verified finalized head, read only with proofs. */
  async state(): Promise<State> {
    this.checkRuntime();
    return new State(this.api, new ProvenState(this.rpc, await this.verifiedHead()));
  }

  /** One `phr_` call; a refusal becomes a sentence. */
  async phr<T = any>(method: string, params: unknown[]): Promise<T> {
    try {
      return (await this.provider.send(method, params)) as T;
    } catch (error: any) {
      const match = /^(-?\d+): (.*)$/s.exec(error?.message ?? '');
      if (match) throw new UserError(blobError(Number(match[1]), match[2], error?.data));
      if (typeof error?.code === 'number') throw new UserError(blobError(error.code, error.message ?? '', error.data));
      throw error;
    }
  }

  /** A fresh signed request to this node's blob store (0x-hex SCALE). */
  request(vault: Vault, method: BlobMethod, subject: BlobSubject, node: Uint8Array = this.peer): string {
    return '0x' + hex(signRequest({
      genesis: this.genesis, node, method, account: decodeAddress(vault.account), subject,
      nonce: random(16), expiresAtMs: Date.now() + REQUEST_LIFETIME_MS,
    }, vault.secrets.requestSeed));
  }

  /** Signs `tx` with the vault's account (or the browser extension that holds it), submits it and
   *  resolves once it is FINAL, with its events; a dispatch error is thrown as the runtime names it. */
  async submit(vault: Vault, tx: SubmittableExtrinsic<'promise'>, onStatus?: (status: string) => void, nonce = -1): Promise<any[]> {
    this.checkRuntime();
    const injected = vault.secrets.accountSecret.startsWith('extension:') ? (await web3FromAddress(vault.account)).signer : undefined;
    const session = this;
    return new Promise((resolve, reject) => {
      let unsubscribe: (() => void) | undefined;
      const done = (f: () => void) => {
        unsubscribe?.();
        f();
      };
      const signing = injected ? tx.signAndSend(vault.account, { signer: injected, nonce }, handle) : tx.signAndSend(vault.pair!, { nonce }, handle);
      function handle(result: any) {
        const status = result.status;
        if (status.isInBlock) onStatus?.('in a block, waiting for finality');
        if (status.isInvalid || status.isDropped || status.isUsurped) {
          done(() => reject(new UserError('The network dropped the transaction: try again.')));
        } else if (status.isFinalized) {
          session.head = undefined;
          session.minHead = Math.max(session.minHead, Number(result.blockNumber ?? 0));
          done(() => {
            if (result.dispatchError) reject(new UserError(dispatchSentence(tx.registry, result.dispatchError)));
            else resolve(result.events.map((e: any) => e.event));
          });
        }
      }
      signing.then((u) => (unsubscribe = u)).catch(reject);
    });
  }

  /** Signs `txs` with consecutive nonces and sends them all at once; resolves once every one is
   *  FINAL, with each one's events in order: one wait for many (a Bundle's records). */
  async submitAll(vault: Vault, txs: SubmittableExtrinsic<'promise'>[], onFinal?: (final: number) => void): Promise<any[][]> {
    const first = (await this.api.rpc.system.accountNextIndex(vault.account)).toNumber();
    let final = 0;
    return Promise.all(txs.map((tx, i) => this.submit(vault, tx, undefined, first + i).then((events) => {
      onFinal?.(++final);
      return events;
    })));
  }

  // ---- ciphertext ----

  /** Uploads a sealed record (nothing is sent when the node has it already). */
  async upload(vault: Vault, sealed: Uint8Array, progress?: (done: number) => void): Promise<Uint8Array> {
    const hash = recordHash(sealed);
    const request = this.request(vault, { kind: 'uploadCiphertext', size: sealed.length }, { kind: 'ciphertext', hash });
    const started = await this.phr('phr_uploadBegin', [request, sealed.length]);
    if (started?.upload && this.node.blob) {
      // The whole ciphertext as one body: the browser streams it from memory, no base64.
      await this.binary('PUT', `/upload/${started.upload}`, sealed);
    } else if (started?.upload) {
      for (let index = 0; index * UPLOAD_CHUNK < sealed.length; index++) {
        const chunk = sealed.subarray(index * UPLOAD_CHUNK, (index + 1) * UPLOAD_CHUNK);
        await this.phr('phr_uploadChunk', [started.upload, index, toBase64(chunk)]);
        progress?.(Math.min(sealed.length, (index + 1) * UPLOAD_CHUNK));
      }
      await this.phr('phr_uploadFinish', [started.upload]);
    }
    progress?.(sealed.length);
    return hash;
  }

  /** Stores `wrapped` (a wrapped data key or a sealed escrow share) for `recipient`. */
  async putWrapped(vault: Vault, record: bigint, dataEpoch: number, recipient: string, recipientEpoch: number, wrapped: Uint8Array) {
    const method: BlobMethod = {
      kind: 'uploadWrappedKey', recipient: decodeAddress(recipient), dataEpoch, recipientEpoch, wrapped: blake2_256(wrapped),
    };
    await this.phr('phr_putWrappedKey', [this.request(vault, method, { kind: 'record', record }), recipient, dataEpoch, recipientEpoch, toBase64(wrapped)]);
  }

  /** Fetches a record's ciphertext; it must hash to what the chain registered at the finalized
   *  block, whatever the node says. */
  async fetch(vault: Vault, record: bigint, purpose: 'treatment' | 'emergency', progress?: (done: number, total: number) => void) {
    const request = this.request(vault, { kind: 'fetch', purpose: { kind: purpose } }, { kind: 'record', record });
    const answer = await this.phr('phr_fetch', [request, purpose]);
    const info: any = await (await this.state()).value(this.api.query.records.recordOf, record);
    if (!info) throw new UserError(`Record ${record} does not exist.`);
    let ciphertext: Uint8Array;
    if (answer.data) {
      ciphertext = fromBase64(answer.data);
    } else if (this.node.blob) {
      ciphertext = await this.download(answer.session, Number(answer.size), progress);
    } else {
      const parts: Uint8Array[] = [];
      let done = 0;
      for (let index = 0; index < answer.chunks; index++) {
        const chunk = fromBase64(await this.phr('phr_fetchChunk', [answer.session, index]));
        parts.push(chunk);
        done += chunk.length;
        progress?.(done, answer.size);
      }
      ciphertext = new Uint8Array(done);
      let offset = 0;
      for (const p of parts) {
        ciphertext.set(p, offset);
        offset += p.length;
      }
    }
    if (hex(recordHash(ciphertext)) !== String(info.ciphertextHash).replace(/^0x/, '')) {
      throw new UserError(`The node sent a ciphertext of record ${record} that is not the one registered on chain: read it through another hospital.`);
    }
    return { ciphertext, basis: String(answer.basis), keyEpoch: Number(answer.keyEpoch), wrapped: wrappedOf(answer) };
  }

  /** One request to the node's binary endpoint; a refusal (its JSON `{code, message}`) becomes a
   *  sentence like any `phr_` refusal. */
  private async binary(method: 'PUT' | 'GET', path: string, body?: Uint8Array): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.node.blob + path, {
        method, body: body as BodyInit | undefined, cache: 'no-store', credentials: 'omit',
        headers: body ? { 'content-type': 'application/octet-stream' } : undefined,
      });
    } catch {
      throw new UserError(`The node ${this.node.name} cannot be reached at ${this.node.blob}: check that it runs, or choose another hospital.`);
    }
    if (!response.ok) {
      const refusal = await response.json().catch(() => ({ code: response.status, message: response.statusText }));
      throw new UserError(blobError(Number(refusal.code), String(refusal.message ?? ''), undefined));
    }
    return response;
  }

  /** A read session's whole ciphertext, streamed off the binary endpoint into one buffer of the
   *  record's size (a body longer or shorter than that is refused, never taken for the record). */
  private async download(session: string, size: number, progress?: (done: number, total: number) => void): Promise<Uint8Array> {
    const response = await this.binary('GET', `/session/${session}`);
    const ciphertext = new Uint8Array(size);
    const reader = response.body!.getReader();
    let done = 0;
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (done + value.length > size) throw new UserError('The node sent more than the record holds: read it through another hospital.');
      ciphertext.set(value, done);
      done += value.length;
      progress?.(done, size);
    }
    if (done !== size) throw new UserError(`The node sent ${done} of the record's ${size} bytes: try again, or read it through another hospital.`);
    return ciphertext;
  }

  /** The caller's wrapped data key of a record, without its ciphertext (`key_only`: a read
   *  decided and receipted like any other). */
  async fetchKey(vault: Vault, record: bigint) {
    const request = this.request(vault, { kind: 'fetch', purpose: { kind: 'treatment' } }, { kind: 'record', record });
    return wrappedOf(await this.phr('phr_fetch', [request, 'treatment', true]));
  }
}

/** The wrapped key of a `phr_fetch` answer, if the node holds one for the caller. */
function wrappedOf(answer: any): { dataEpoch: number; recipientEpoch: number; bytes: Uint8Array } | null {
  const w = answer.wrappedKey;
  return w ? { dataEpoch: Number(w.dataEpoch), recipientEpoch: Number(w.recipientEpoch), bytes: fromBase64(w.wrapped) } : null;
}

/** The runtime's own words for a dispatch error: the pallet error's name and doc comment. */
export function dispatchSentence(registry: any, error: any): string {
  if (error.isModule) {
    try {
      const meta = registry.findMetaError(error.asModule);
      const docs = meta.docs.join(' ').trim();
      return `Refused by the chain (${meta.name}): ${docs || 'see the runtime documentation'}.`.replace(/\.\.$/, '.');
    } catch {
      // fall through
    }
  }
  if (error.isBadOrigin) return 'Refused by the chain: your account may not do this.';
  return `Refused by the chain: ${error.type ?? String(error)}.`;
}


/** Proven chain state, decoded by the runtime's metadata: storage entries of `api.query`, each
 *  value read with its proof against a verified head. A value that does not decode whole is
 *  refused (the portal is older than the runtime). */
export class State {
  constructor(private readonly api: ApiPromise, readonly proven: ProvenState) {}

  get head() {
    return this.proven.head;
  }

  private decode(entry: any, raw: Uint8Array | null): any {
    const meta = entry.creator.meta;
    if (raw === null) {
      if (!meta.modifier.isDefault) return null;
      raw = meta.fallback.toU8a(true);
    }
    const registry = this.api.registry;
    const type = registry.createLookupType(meta.type.isPlain ? meta.type.asPlain : meta.type.asMap.value);
    const value = registry.createType(type, raw);
    if (value.encodedLength !== raw!.length) {
      throw new UserError(`A proven ${entry.creator.section}.${entry.creator.method} value does not decode: reload the portal (the chain's runtime may have been upgraded).`);
    }
    return value.toJSON();
  }

  /** One entry's value (JSON, as `toJSON` gives it), or null where there is none. */
  async value(entry: any, ...args: unknown[]): Promise<any> {
    return (await this.values(entry, [args]))[0];
  }

  /** The values of many keys of one entry, with one proof. */
  async values(entry: any, args: unknown[][]): Promise<any[]> {
    const raw = await this.proven.values(args.map((a) => unhex(entry.key(...a))));
    return raw.map((r) => this.decode(entry, r));
  }

  /** Every entry under the prefix `args` name (all of a map when none), proven complete, with its
   *  key's arguments. */
  async entries(entry: any, ...args: unknown[]): Promise<{ args: any[]; value: any }[]> {
    const found = await this.proven.entries(unhex(entry.keyPrefix(...args)));
    const { meta, section, method } = entry.creator;
    return found.map(([key, raw]) => ({
      // As a hex string: a byte array would be taken for a length-prefixed one.
      args: (this.api.registry.createType('StorageKey', '0x' + hex(key)) as any).setMeta(meta, section, method).args,
      value: this.decode(entry, raw),
    }));
  }
}
