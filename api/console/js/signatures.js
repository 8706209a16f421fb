// Ed25519 signatures over the exact bytes the server signs, checked with WebCrypto against
// a key the user pinned. The key a document carries is never used to verify: anyone can
// sign a document with a key of their own and put that key in it.
//
// The signed payloads reproduce crypto/ledger.py and crypto/certificates.py byte for byte:
// a purpose line, then orjson.dumps(fields, OPT_SORT_KEYS): compact JSON, keys sorted.

import { bytesToHex, parseHash, sha256 } from "./merkle.js";

export const TREE_HEAD_PREFIX = "crm.ledger.tree-head.v1\n";
export const CERTIFICATE_PREFIX = "crm.erasure-certificate.v1\n";
const TREE_HEAD_FIELDS = ["size", "root_hash", "chain_hash", "position", "timestamp"];
const CERTIFICATE_FIELDS = [
  "erasure_id", "tenant_id", "subject_id", "key_id",
  "destroyed_at", "erased_by", "request_id", "ledger_position",
];
export const PUBLIC_KEY_BYTES = 32;

export class MalformedDocument extends Error {}
export class MalformedKey extends Error {}

/** Compact JSON with sorted keys, as orjson.dumps(value, option=OPT_SORT_KEYS) writes it
 * for the values a signed document holds: strings, whole numbers, booleans, null. */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new MalformedDocument("only whole numbers are signed");
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  throw new MalformedDocument(`a ${typeof value} cannot be signed`);
}

function pick(document, names, what) {
  if (!document || typeof document !== "object") throw new MalformedDocument(`the ${what} is not a JSON object`);
  const picked = {};
  for (const name of names) {
    if (!(name in document)) throw new MalformedDocument(`the ${what} has no ${name}`);
    picked[name] = document[name];
  }
  return picked;
}

function wholeField(fields, name, what) {
  if (!Number.isSafeInteger(fields[name]) || fields[name] < 0) {
    throw new MalformedDocument(`the ${what}'s ${name} must be a whole number`);
  }
}

function textField(fields, name, what, nullable = false) {
  if (typeof fields[name] !== "string" && !(nullable && fields[name] === null)) {
    throw new MalformedDocument(`the ${what}'s ${name} must be text`);
  }
}

/** The bytes a checkpoint's signature covers (crypto.ledger.TreeHead.payload). */
export function treeHeadPayload(checkpoint) {
  const head = pick(checkpoint, TREE_HEAD_FIELDS, "checkpoint");
  wholeField(head, "size", "checkpoint");
  wholeField(head, "position", "checkpoint");
  parseHash(head.root_hash, "the checkpoint's root_hash");
  parseHash(head.chain_hash, "the checkpoint's chain_hash");
  textField(head, "timestamp", "checkpoint");
  return new TextEncoder().encode(TREE_HEAD_PREFIX + canonicalJson(head));
}

/** The bytes a certificate's signature covers (crypto.certificates.ErasureCertificate.payload). */
export function certificatePayload(certificate) {
  const fields = pick(certificate, CERTIFICATE_FIELDS, "certificate");
  for (const name of CERTIFICATE_FIELDS.slice(0, 6)) textField(fields, name, "certificate");
  textField(fields, "request_id", "certificate", true);
  wholeField(fields, "ledger_position", "certificate");
  return new TextEncoder().encode(CERTIFICATE_PREFIX + canonicalJson(fields));
}

function base64Bytes(text) {
  const standard = text.trim().replaceAll("-", "+").replaceAll("_", "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(standard) || standard.length % 4 === 1) return null;
  try {
    return Uint8Array.from(atob(standard), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The raw 32 bytes of an Ed25519 public key given as base64 (standard or URL-safe). */
export function parsePublicKey(text) {
  if (typeof text !== "string" || !text.trim()) throw new MalformedKey("no key was given");
  const raw = base64Bytes(text);
  if (raw === null) throw new MalformedKey("the key is not valid base64");
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new MalformedKey(`the key must be base64 of ${PUBLIC_KEY_BYTES} bytes, not ${raw.length}`);
  }
  return raw;
}

export function keyToBase64(raw) {
  return btoa(String.fromCharCode(...raw));
}

/** SHA-256 of the raw key bytes, hex: the same as GET /v1/keys publishes. */
export async function fingerprint(raw) {
  return bytesToHex(await sha256(raw));
}

/** "ab12 cd34 …": four hex digits a group, easier to read aloud and compare. */
export function groupFingerprint(hex) {
  return (hex.match(/.{1,4}/g) || []).join(" ");
}

/** Whether `signature` (base64 of 64 bytes) is the pinned key's Ed25519 signature of `payload`. */
export async function verifyEd25519(raw, payload, signature) {
  const bytes = typeof signature === "string" ? base64Bytes(signature) : null;
  if (bytes === null || bytes.length !== 64) return false;
  const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, bytes, payload);
}

/** Whether the key a document carries is the pinned one: shown to the user, never trusted. */
export function carriesPinnedKey(document, raw) {
  const carried = typeof document?.public_key === "string" ? base64Bytes(document.public_key) : null;
  return carried !== null && carried.length === raw.length && carried.every((b, i) => b === raw[i]);
}

/** Check a checkpoint's signature under the pinned ledger key. */
export function verifyCheckpoint(checkpoint, raw) {
  return verifyEd25519(raw, treeHeadPayload(checkpoint), checkpoint.signature);
}

/** Check an erasure certificate's signature under the pinned certificate key. */
export function verifyCertificate(certificate, raw) {
  return verifyEd25519(raw, certificatePayload(certificate), certificate.signature);
}
