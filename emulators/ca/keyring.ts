/**
 * The lab key ring: RSA-2048 key pairs generated once (`fixtures/generate-keyring.ts`) and committed, so a
 * seed always picks the same keys and a rehearsal never waits for key generation. Keys are parsed on
 * first use and cached.
 *
 * The first four keys are kept for certification authorities (`role: 'ca'`), the rest for requesters, so
 * a CA never shares a key with a certificate it issues.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import type { IdSource } from '../../sim/ids.js';
import ring from './fixtures/keyring.json' with { type: 'json' };

export interface RingKey {
  /** "k01" ... "k24". */
  id: string;
  privateKeyPem: string;
  /** SubjectPublicKeyInfo, PEM. */
  publicKeyPem: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as node-forge wants it for building certificates and requests. */
  forgePublicKey: forge.pki.rsa.PublicKey;
}

export type KeyRole = 'ca' | 'leaf';

const CA_KEYS = 4;

/** Every key id of the ring, in ring order. */
export const KEY_IDS: readonly string[] = ring.keys.map((k) => k.id);
const CA_KEY_IDS = KEY_IDS.slice(0, CA_KEYS);
const LEAF_KEY_IDS = KEY_IDS.slice(CA_KEYS);

const cache = new Map<string, RingKey>();

/** The key with this id; an unknown id is a bug and throws. */
export function keyById(id: string): RingKey {
  const cached = cache.get(id);
  if (cached) return cached;
  const entry = ring.keys.find((k) => k.id === id);
  if (!entry) throw new Error(`keyById: no key "${id}" in the lab key ring (${KEY_IDS[0]}..${KEY_IDS[KEY_IDS.length - 1]})`);
  const privateKey = createPrivateKey(entry.privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key: RingKey = {
    id,
    privateKeyPem: entry.privateKeyPem,
    publicKeyPem,
    privateKey,
    publicKey,
    forgePublicKey: forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey,
  };
  cache.set(id, key);
  return key;
}

/**
 * Picks a key with one draw from `ids`: the same stream gives the same key. `exclude` names keys the
 * caller already holds (a requester asking for several certificates).
 */
export function takeKey(ids: IdSource, options: { role?: KeyRole; exclude?: readonly string[] } = {}): RingKey {
  const pool = options.role === 'ca' ? CA_KEY_IDS : LEAF_KEY_IDS;
  const free = pool.filter((id) => !options.exclude?.includes(id));
  return keyById(ids.pick(free.length ? free : pool));
}
