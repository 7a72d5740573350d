/**
 * The two shapes of an Ajax POST body (PROTOCOL.md §4), in one place for the client and the server:
 * - Sente's form: `application/x-www-form-urlencoded` with `udt`, `client-id` and `ppstr` (the
 *   packed envelope), what Sente's client sends and Sente's server reads (`(:ppstr params)`);
 * - the raw packed envelope as the body (JSON: `text/plain`; a binary packer:
 *   `application/octet-stream` with `binary?=true` in the query, as Sente does).
 * A client uses the form when its packer has `senteFormat` (EDN, Transit); a server reads both.
 */
import type { Parsed } from './envelope.js';
import type { Packed, Packer } from './packer.js';
import { ContentType, Query } from './protocol.js';

/** Whether a `Content-Type` header names a form body (parameters such as `charset` ignored). */
export function isFormContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

// encodeURIComponent, as goog's QueryData in Sente's client, so the body is byte for byte Sente's.
const field = (k: string, v: string): string => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`;

/** Sente's form body: `udt=<ms>&client-id=<id>&ppstr=<packed envelope>`, in Sente's key order. */
export function encodeAjaxForm(udt: string, clientId: string, ppstr: string): string {
  return `${field(Query.UDT, udt)}&${field(Query.CLIENT_ID, clientId)}&${field(Query.PPSTR, ppstr)}`;
}

/** How a client posts one packed envelope with `packer`. */
export interface AjaxPostRequest {
  readonly body: Packed;
  readonly contentType: string;
  /** Query parameters to add (`binary?=true` for a binary packer). */
  readonly query: Readonly<Record<string, string>>;
}

/** The body, content type and extra query of a client's Ajax POST of `packed`. */
export function ajaxPostRequest(packer: Packer, packed: Packed, clientId: string, udt: string): AjaxPostRequest {
  if (packer.binary || typeof packed !== 'string') return { body: packed, contentType: ContentType.BINARY, query: { [Query.BINARY]: 'true' } };
  if (packer.senteFormat === true) return { body: encodeAjaxForm(udt, clientId, packed), contentType: ContentType.FORM_POST, query: {} };
  return { body: packed, contentType: ContentType.TEXT_POST, query: {} };
}

/** What a server reads from an Ajax POST: the packed envelope, and the client id wherever it came. */
export interface AjaxPostBody {
  readonly packed: Packed;
  /** The form's `client-id`, else the query's (Ring's `wrap-params` merges both; the form wins). */
  readonly clientId: string | null;
  /** Whether the body was Sente's form. */
  readonly form: boolean;
}

const text = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

/**
 * Reads an Ajax POST body of either shape. A form body must have `ppstr` (a form without it is
 * what Sente's server turns into `[:chsk/bad-event nil]`; sente-rx refuses it with 400).
 */
export function readAjaxPost(body: Packed, contentType: string | undefined, query: URLSearchParams): Parsed<AjaxPostBody> {
  if (!isFormContentType(contentType)) return { ok: true, value: { packed: body, clientId: query.get(Query.CLIENT_ID), form: false } };
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(typeof body === 'string' ? body : text.decode(body));
  } catch {
    return { ok: false, reason: 'the form body is not UTF-8' };
  }
  const ppstr = params.get(Query.PPSTR);
  if (ppstr === null) return { ok: false, reason: 'a form POST must carry the packed envelope in its ppstr field' };
  return { ok: true, value: { packed: ppstr, clientId: params.get(Query.CLIENT_ID) ?? query.get(Query.CLIENT_ID), form: true } };
}
