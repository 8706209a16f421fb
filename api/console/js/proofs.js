// The auditor's checks, made here rather than taken from the server being audited:
// a checkpoint's signature under the pinned ledger key, an event's inclusion proof and a
// consistency proof between two checkpoints, each recomputed from the hashes it carries.

import { bytesToHex, equalBytes, leafHash, parseHash, rootFromInclusionProof, verifyConsistency } from "./merkle.js";
import { verifyCheckpoint } from "./signatures.js";

const KEPT = "crm.console.checkpoints";
const MAX_KEPT = 50;

function check(name, ok, detail) {
  return { name, ok: Boolean(ok), detail: detail ?? null };
}

function verdict(checks) {
  return { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
}

/** Checkpoints this tab fetched and verified, oldest first (non-personal: sizes, hashes). */
export function keptCheckpoints() {
  try {
    return JSON.parse(sessionStorage.getItem(KEPT) || "[]");
  } catch {
    return [];
  }
}

/** Keep a checkpoint whose signature verified, so later proofs are checked against it. */
export function keepCheckpoint(checkpoint) {
  const others = keptCheckpoints().filter((c) => c.size !== checkpoint.size);
  const kept = [...others, checkpoint].sort((a, b) => a.size - b.size).slice(-MAX_KEPT);
  sessionStorage.setItem(KEPT, JSON.stringify(kept));
}

function sameHead(a, b) {
  return a.root_hash === b.root_hash && a.signature === b.signature && a.timestamp === b.timestamp;
}

/** The checkpoint of `size` to check against: the one kept here when there is one (the
 * server must show the same), else the one in the answer. */
export function checkpointFor(size, answered) {
  const kept = keptCheckpoints().find((c) => c.size === size) || null;
  if (kept && answered && !sameHead(kept, answered)) return { checkpoint: kept, conflict: true };
  return { checkpoint: kept || answered || null, conflict: false };
}

/** Signature of one checkpoint under the pinned key, as a list of checks. */
export async function checkCheckpoint(checkpoint, raw, label = "checkpoint") {
  if (!checkpoint) return [check(`${label}.present`, false)];
  try {
    return [check(`${label}.signature`, await verifyCheckpoint(checkpoint, raw))];
  } catch (error) {
    return [check(`${label}.malformed`, false, String(error.message || error))];
  }
}

/** An inclusion proof: the leaf SHA-256(0x00 || event_hash) and the audit path must lead to
 * the root of a checkpoint of the proof's tree size that the pinned key signed. */
export async function checkInclusion(proof, raw) {
  const { checkpoint, conflict } = checkpointFor(proof.tree_size, proof.checkpoint);
  const checks = [check("inclusion.sameCheckpoint", !conflict)];
  checks.push(...(await checkCheckpoint(checkpoint, raw)));
  if (!checkpoint) return { ...verdict(checks), computedRoot: null, expectedRoot: null };
  try {
    const leaf = await leafHash(parseHash(proof.event_hash, "event_hash"));
    const path = (proof.audit_path || []).map((p, i) => parseHash(p, `audit_path[${i}]`));
    const root = await rootFromInclusionProof(leaf, proof.leaf_index, proof.tree_size, path);
    const expected = parseHash(checkpoint.root_hash, "root_hash");
    checks.push(check("inclusion.size", proof.tree_size === checkpoint.size));
    checks.push(check("inclusion.root", root !== null && equalBytes(root, expected)));
    return { ...verdict(checks), computedRoot: root && bytesToHex(root), expectedRoot: checkpoint.root_hash };
  } catch (error) {
    checks.push(check("hashes.malformed", false, String(error.message || error)));
    return { ...verdict(checks), computedRoot: null, expectedRoot: checkpoint.root_hash };
  }
}

/** A consistency proof: both checkpoints signed by the pinned key, and the proof must lead
 * from the first's root to the second's (the second tree extends the first). */
export async function checkConsistency(proof, raw) {
  const first = checkpointFor(proof.first, proof.first_checkpoint);
  const second = checkpointFor(proof.second, proof.second_checkpoint);
  const checks = [check("consistency.sameCheckpoints", !first.conflict && !second.conflict)];
  checks.push(...(await checkCheckpoint(first.checkpoint, raw, "first")));
  checks.push(...(await checkCheckpoint(second.checkpoint, raw, "second")));
  if (!first.checkpoint || !second.checkpoint) return verdict(checks);
  try {
    const path = (proof.proof || []).map((p, i) => parseHash(p, `proof[${i}]`));
    const ok = await verifyConsistency(
      first.checkpoint.size, second.checkpoint.size,
      parseHash(first.checkpoint.root_hash, "first root_hash"),
      parseHash(second.checkpoint.root_hash, "second root_hash"), path,
    );
    checks.push(check("consistency.sizes", first.checkpoint.size === proof.first && second.checkpoint.size === proof.second));
    checks.push(check("consistency.roots", ok));
  } catch (error) {
    checks.push(check("hashes.malformed", false, String(error.message || error)));
  }
  return verdict(checks);
}
