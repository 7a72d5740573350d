/**
 * Validation issues as they travel on the wire (PROTOCOL.md §7–§8): bounded copies with paths of
 * strings and numbers. Both sides read issues from the peer with `sanitizeIssues`, so a hostile
 * peer cannot hand the app an unbounded list, huge messages or odd path segments.
 */
import type { ValidationIssue } from './errors.js';

/** Most issues kept from (or sent to) the peer. */
export const MAX_ISSUES = 20;
const MAX_ISSUE_MESSAGE = 500;
const MAX_PATH = 32;

/** Bounded copies of the issues the peer reported: paths of strings and numbers, messages cut short; `undefined` for a non-array. */
export function sanitizeIssues(x: unknown): ValidationIssue[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: ValidationIssue[] = [];
  for (const i of x.slice(0, MAX_ISSUES)) {
    if (typeof i !== 'object' || i === null) continue;
    const { path, message } = i as { path?: unknown; message?: unknown };
    const segs = Array.isArray(path) ? path.slice(0, MAX_PATH).filter((s): s is string | number => typeof s === 'string' || typeof s === 'number') : [];
    out.push({ path: segs, message: typeof message === 'string' ? message.slice(0, MAX_ISSUE_MESSAGE) : 'invalid' });
  }
  return out;
}
