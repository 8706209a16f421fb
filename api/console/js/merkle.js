// Merkle proofs as Certificate Transparency defines them (RFC 9162, section 2.1), checked
// in this browser: leaves hash as SHA-256(0x00 || data), nodes as SHA-256(0x01 || l || r).
// Sizes and indexes are BigInt inside (JavaScript's bit operators on numbers are 32-bit).
// A port of crypto/merkle.py; both pass transparency-dev/merkle's vectors.

export const HASH_SIZE = 32;
const HEX_HASH = /^[0-9a-fA-F]{64}$/;

export class MalformedHash extends Error {}

/** The 32 bytes of a hex SHA-256 hash, or MalformedHash naming `what`. */
export function parseHash(text, what) {
  if (typeof text !== "string" || !HEX_HASH.test(text)) {
    throw new MalformedHash(`${what} must be 64 hex characters (a SHA-256 hash)`);
  }
  return hexToBytes(text);
}

export function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function equalBytes(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  return a.every((value, i) => value === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** A whole number as BigInt, or null (unsafe numbers cannot be told apart exactly). */
function whole(value) {
  if (typeof value === "bigint") return value >= 0n ? value : null;
  return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
}

function allHashes(...values) {
  return values.flat().every((v) => v instanceof Uint8Array && v.length === HASH_SIZE);
}

/** The root that `path` leads to from `leaf` at `index` in a tree of `size`, or null when
 * the path cannot be one (RFC 9162 section 2.1.3.2, without the final comparison). */
export async function rootFromInclusionProof(leaf, index, size, path) {
  let fn = whole(index);
  let sn = whole(size);
  if (fn === null || sn === null || fn >= sn || !allHashes(leaf, path)) return null;
  sn -= 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/** Does `path` prove `leaf` at `index` in the tree of `size` whose root is `root`? */
export async function verifyInclusion(leaf, index, size, path, root) {
  if (!allHashes(root)) return false;
  const computed = await rootFromInclusionProof(leaf, index, size, path);
  return computed !== null && equalBytes(computed, root);
}

/** The two roots a consistency proof leads to, or null when it cannot be one
 * (RFC 9162 section 2.1.4.2). `firstRoot` seeds the path when `first` is a power of two. */
export async function rootsFromConsistencyProof(first, second, firstRoot, proof) {
  const m = whole(first);
  const n = whole(second);
  if (m === null || n === null || m === 0n || m >= n || !allHashes(firstRoot, proof)) return null;
  const path = (m & (m - 1n)) === 0n ? [firstRoot, ...proof] : [...proof];
  if (!path.length) return null;
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? { first: fr, second: sr } : null;
}

const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Is the tree of `second` entries an extension of the tree of `first`? Equal sizes need
 * equal roots and no proof; the empty tree is consistent only with itself. */
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  const m = whole(first);
  const n = whole(second);
  if (m === null || n === null || m > n || !allHashes(firstRoot, secondRoot, proof)) return false;
  if (m === n) {
    const same = proof.length === 0 && equalBytes(firstRoot, secondRoot);
    return same && (m > 0n || bytesToHex(firstRoot) === EMPTY_ROOT_HEX);
  }
  const roots = await rootsFromConsistencyProof(m, n, firstRoot, proof);
  return roots !== null && equalBytes(roots.first, firstRoot) && equalBytes(roots.second, secondRoot);
}
