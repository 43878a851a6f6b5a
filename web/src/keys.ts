// The browser's wallet: the account key (sr25519), the ed25519 request key and every X25519
// encryption key the account registered, kept at rest in this browser's localStorage in exactly the
// CLI wallet's file format (Argon2id + ChaCha20-Poly1305, wallet/src/keyfile.rs). So a wallet made
// here opens in `phr`, and `phr`'s file opens here. Nothing secret is ever sent anywhere: the
// unlocked secrets live in this page's memory only, until it locks or closes.

import { Keyring } from '@polkadot/keyring';
import type { KeyringPair } from '@polkadot/keyring/types';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { CryptoError, hex, openWalletFile, random, requestPublicKey, x25519Public, type WalletSecrets } from './crypto';

const STORE_PREFIX = 'phr-wallet:';
/** The CLI's Argon2id cost (RFC 9106's second recommended option). */
const KDF = { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };

export type Vault = {
  account: string;
  /** The account key; absent when a browser extension holds it (and signs). */
  pair?: KeyringPair;
  secrets: WalletSecrets;
  passphrase: string;
};

/** The sr25519 account of a secret URI (//Alice), a mnemonic, or a 0x seed, as sp-core derives it. */
export async function accountFromSecret(secret: string): Promise<KeyringPair> {
  await cryptoWaitReady();
  try {
    return new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(secret.trim());
  } catch {
    throw new CryptoError('this is not a recovery phrase, a secret URI (//Name) or a 0x seed');
  }
}

/** The wallet file (the CLI's format) that keeps `secrets` under `passphrase`. */
export async function sealWalletFile(account: string, secrets: WalletSecrets, passphrase: string): Promise<string> {
  const salt = random(16);
  const key = await argon2idAsync(new TextEncoder().encode(passphrase), salt, { m: KDF.memory_kib, t: KDF.iterations, p: KDF.parallelism, dkLen: 32 });
  const nonce = random(12);
  const plain = new TextEncoder().encode(JSON.stringify({
    account_secret: secrets.accountSecret,
    request_seed: hex(secrets.requestSeed),
    encryption_keys: secrets.encryptionKeys.map((k) => ({ epoch: k.epoch, secret: hex(k.secret) })),
  }));
  const sealed = chacha20poly1305(key, nonce).encrypt(plain);
  plain.fill(0);
  return JSON.stringify({ version: 1, account, kdf: { algorithm: 'argon2id', ...KDF, salt: hex(salt) }, nonce: hex(nonce), sealed: hex(sealed) }, null, 2);
}

/** The accounts this browser keeps wallets for. */
export function storedAccounts(): string[] {
  const out: string[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (key?.startsWith(STORE_PREFIX)) out.push(key.slice(STORE_PREFIX.length));
  }
  return out.sort();
}

export const storedFile = (account: string): string | null => localStorage.getItem(STORE_PREFIX + account);

async function keep(vault: Vault): Promise<void> {
  localStorage.setItem(STORE_PREFIX + vault.account, await sealWalletFile(vault.account, vault.secrets, vault.passphrase));
}

function checkPassphrase(passphrase: string) {
  if (passphrase.length < 8) throw new CryptoError('choose a passphrase of at least 8 characters');
}

async function fromSecrets(secrets: WalletSecrets, passphrase: string): Promise<Vault> {
  const pair = await accountFromSecret(secrets.accountSecret);
  return { account: pair.address, pair, secrets, passphrase };
}

/** A new account: a 24-word recovery phrase (shown once), fresh request and encryption keys. */
export async function createWallet(passphrase: string): Promise<{ vault: Vault; mnemonic: string }> {
  checkPassphrase(passphrase);
  await cryptoWaitReady();
  const mnemonic = mnemonicGenerate(24);
  const vault = await fromSecrets({ accountSecret: mnemonic, requestSeed: random(32), encryptionKeys: [{ epoch: 0, secret: random(32) }] }, passphrase);
  await keep(vault);
  return { vault, mnemonic };
}

/** An existing account (phrase, //URI or seed) with fresh request and encryption keys. */
export async function importSecret(secret: string, passphrase: string): Promise<Vault> {
  checkPassphrase(passphrase);
  const vault = await fromSecrets({ accountSecret: secret.trim(), requestSeed: random(32), encryptionKeys: [{ epoch: 0, secret: random(32) }] }, passphrase);
  if (storedFile(vault.account)) throw new CryptoError(`this browser already keeps a wallet for ${vault.account}: unlock it`);
  await keep(vault);
  return vault;
}

/** The CLI's wallet file, opened with its passphrase and kept here under the same one. */
export async function importWalletFile(text: string, passphrase: string): Promise<Vault> {
  const { secrets } = await openWalletFile(text, passphrase);
  const vault = await fromSecrets(secrets, passphrase);
  await keep(vault);
  return vault;
}

/** A polkadot-js JSON keystore (account export of the extension or apps): the account key from it,
 *  with fresh request and encryption keys. Kept as its 0x seed is not recoverable from the JSON, so
 *  such a wallet signs here but exports only as the JSON it came from. */
export async function importKeystoreJson(text: string, password: string, passphrase: string): Promise<Vault> {
  checkPassphrase(passphrase);
  await cryptoWaitReady();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CryptoError('this is not a JSON keystore file');
  }
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  let pair: KeyringPair;
  try {
    pair = keyring.addFromJson(json);
    pair.decodePkcs8(password);
  } catch {
    throw new CryptoError('the keystore does not open with this password (or is not sr25519)');
  }
  const secrets: WalletSecrets = { accountSecret: `json:${JSON.stringify(pair.toJson(passphrase))}`, requestSeed: random(32), encryptionKeys: [{ epoch: 0, secret: random(32) }] };
  const vault = { account: pair.address, pair, secrets, passphrase };
  await keep(vault);
  return vault;
}

/** An account a browser extension (polkadot.js, Talisman, SubWallet) holds and signs for; its
 *  request and encryption keys are made and kept here. */
export async function useExtensionAccount(address: string, passphrase: string): Promise<Vault> {
  checkPassphrase(passphrase);
  const secrets: WalletSecrets = { accountSecret: `extension:${address}`, requestSeed: random(32), encryptionKeys: [{ epoch: 0, secret: random(32) }] };
  const vault = { account: address, secrets, passphrase };
  await keep(vault);
  return vault;
}

/** Unlocks the wallet this browser keeps for `account`. */
export async function unlock(account: string, passphrase: string): Promise<Vault> {
  const text = storedFile(account);
  if (!text) throw new CryptoError(`this browser keeps no wallet for ${account}`);
  const { secrets } = await openWalletFile(text, passphrase);
  if (secrets.accountSecret.startsWith('extension:')) return { account, secrets, passphrase };
  if (secrets.accountSecret.startsWith('json:')) {
    const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
    const pair = keyring.addFromJson(JSON.parse(secrets.accountSecret.slice(5)));
    pair.decodePkcs8(passphrase);
    return { account: pair.address, pair, secrets, passphrase };
  }
  return fromSecrets(secrets, passphrase);
}

export const forget = (account: string) => localStorage.removeItem(STORE_PREFIX + account);

/** The newest encryption key and its epoch. */
export function currentEncryption(vault: Vault): { epoch: number; secret: Uint8Array } {
  return vault.secrets.encryptionKeys.reduce((a, b) => (b.epoch > a.epoch ? b : a));
}
export const encryptionSecret = (vault: Vault, epoch: number): Uint8Array | undefined =>
  vault.secrets.encryptionKeys.find((k) => k.epoch === epoch)?.secret;

/** The public keys to register on chain. */
export async function publicKeys(vault: Vault): Promise<{ encryption: Uint8Array; requestSigning: Uint8Array }> {
  return { encryption: await x25519Public(currentEncryption(vault).secret), requestSigning: requestPublicKey(vault.secrets.requestSeed) };
}

/** Starts key epoch `epoch` (old encryption keys stay, to open what was wrapped to them); saved. */
export async function rotate(vault: Vault, epoch: number): Promise<void> {
  vault.secrets.encryptionKeys.push({ epoch, secret: random(32) });
  vault.secrets.requestSeed = random(32);
  await keep(vault);
}

export async function setCurrentEpoch(vault: Vault, epoch: number): Promise<void> {
  currentEncryption(vault).epoch = epoch;
  await keep(vault);
}

/** Wipes the unlocked secrets from memory. */
export function lock(vault: Vault): void {
  vault.secrets.requestSeed.fill(0);
  for (const k of vault.secrets.encryptionKeys) k.secret.fill(0);
  vault.pair?.lock();
}
