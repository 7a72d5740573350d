/**
 * The typed contract: one description of every app event, both directions, with the schema of
 * its data and of its reply, from which `send`, `recv$`, `reply`, the reply Observables and the
 * server's `request` get their types, and against which the receiving side validates.
 *
 * ```ts
 * import { z } from 'zod';
 * const events = defineEvents({
 *   client: { 'chat/post': { data: z.object({ text: z.string().max(2000) }), reply: z.object({ id: z.number() }) } },
 *   server: { 'chat/msg': { data: z.object({ id: z.number(), text: z.string() }) } },
 * });
 * ```
 *
 * Schemas are any Standard Schema v1 validator (zod 4, valibot, ArkType, …): this module types and
 * validates through the `~standard` interface alone, so core has no runtime dependency on zod.
 * Validation is synchronous (the receive path is); a schema whose `validate` returns a Promise
 * (an async refinement or transform) fails with an issue that says so.
 *
 * The rules, once:
 * - Ids are `ns/name` (the type is `` `${string}/${string}` ``); `chsk/*` ids are the library's and
 *   are refused by `defineEvents`, at the type level and at run time.
 * - With a contract, the receiver validates each incoming app event against the sender's side of
 *   the contract. An id the contract does not list is a validation failure like bad data: the
 *   event is logged and dropped, or, when the sender asked for a reply, answered with
 *   `'chsk/error'` carrying the issues. So is a reply asked for an event that declares no reply.
 * - The event-msg carries the schema's output (zod strips unknown object keys by default; use
 *   `z.strictObject` to refuse them).
 */
import type { ChskEvent, Uid } from './event.js';
import { isReservedId, preview, validateEvent } from './event.js';
import type { HandshakeData } from './envelope.js';
import { ChskError, type ValidationIssue } from './errors.js';
import type { StatePair } from './state.js';

// ---- Standard Schema v1 (https://standardschema.dev): the spec asks libraries to copy these types ----

/** A Standard Schema v1 validator (zod 4, valibot, ArkType, … implement it). */
export interface StandardSchemaV1<TInput = unknown, TOutput = TInput> {
  readonly '~standard': StandardSchemaV1Props<TInput, TOutput>;
}

export interface StandardSchemaV1Props<TInput = unknown, TOutput = TInput> {
  readonly version: 1;
  readonly vendor: string;
  readonly validate: (value: unknown) => StandardSchemaV1Result<TOutput> | Promise<StandardSchemaV1Result<TOutput>>;
  readonly types?: { readonly input: TInput; readonly output: TOutput } | undefined;
}

export type StandardSchemaV1Result<TOutput> =
  | { readonly value: TOutput; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaV1Issue[] };

export interface StandardSchemaV1Issue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** What a schema accepts (the sender's type). */
export type SchemaInput<TSchema extends StandardSchemaV1> = NonNullable<TSchema['~standard']['types']>['input'];
/** What a schema produces (the receiver's type). */
export type SchemaOutput<TSchema extends StandardSchemaV1> = NonNullable<TSchema['~standard']['types']>['output'];

// ---- the contract ----------------------------------------------------------------------------

/** An app event id: `ns/name`. */
export type EventId = `${string}/${string}`;

/** One event: the schema of its data and, when the sender may ask for one, of the reply. */
export interface EventSpec {
  readonly data: StandardSchemaV1;
  readonly reply?: StandardSchemaV1;
}

export type EventSpecs = { readonly [id: EventId]: EventSpec };

/** The side that sends the events a part of the contract lists: `client` = client→server, `server` = server→client. */
export type ContractSide = 'client' | 'server';

export interface EventContract<TClient extends EventSpecs = EventSpecs, TServer extends EventSpecs = EventSpecs> {
  /** Client→server events (and the replies the server gives). */
  readonly client: TClient;
  /** Server→client pushes and requests (and the replies the client gives). */
  readonly server: TServer;
}

/**
 * The contract of a channel socket made without `events`: every id is a `string`, every data and
 * reply `unknown`, and nothing is validated (the API as it was before contracts).
 */
export interface UntypedContract extends EventContract {
  readonly '~untyped': true;
}

type IsUntyped<C> = C extends { readonly '~untyped': true } ? true : false;

type ReservedIdError = 'chsk/* ids are reserved for sente-rx';
type NamespaceError = 'an event id needs a namespace: "ns/name"';

/** Maps each id that may not be used to an error string, so the offending entry does not compile. */
type CheckIds<T> = {
  readonly [K in keyof T]: K extends `chsk/${string}` ? ReservedIdError : K extends EventId ? T[K] : NamespaceError;
};

// ---- what the types derive -------------------------------------------------------------------

/** The ids side `S` of contract `C` may send (`string` without a contract). */
export type EventIdOf<C extends EventContract, S extends ContractSide> = IsUntyped<C> extends true
  ? string
  : keyof C[S] & string;

type SpecAt<C extends EventContract, S extends ContractSide, TId> = TId extends keyof C[S] ? C[S][TId] : never;

/** A type of the `data` or `reply` schema of event `TId`: `unknown` without a contract, `never` when the schema is not declared. */
type SchemaTypeAt<
  C extends EventContract,
  S extends ContractSide,
  TId extends string,
  TKey extends keyof EventSpec,
  TView extends 'input' | 'output',
> = IsUntyped<C> extends true
  ? unknown
  : SpecAt<C, S, TId> extends Record<TKey, infer TSchema extends StandardSchemaV1>
    ? NonNullable<TSchema['~standard']['types']>[TView]
    : never;

/** The data of event `TId` as its receiver sees it (the schema's output). */
export type DataOf<C extends EventContract, S extends ContractSide, TId extends string> = SchemaTypeAt<C, S, TId, 'data', 'output'>;

/** The data of event `TId` as its sender writes it (the schema's input). */
export type DataInputOf<C extends EventContract, S extends ContractSide, TId extends string> = SchemaTypeAt<C, S, TId, 'data', 'input'>;

/** Whether event `TId` declares a reply. */
export type HasReply<C extends EventContract, S extends ContractSide, TId extends string> = IsUntyped<C> extends true
  ? true
  : SpecAt<C, S, TId> extends { readonly reply: StandardSchemaV1 }
    ? true
    : false;

/** The reply to event `TId` as the requester receives it (`unknown` without a contract, `never` when none is declared). */
export type ReplyOf<C extends EventContract, S extends ContractSide, TId extends string> = SchemaTypeAt<C, S, TId, 'reply', 'output'>;

/** The reply to event `TId` as the replier writes it (the reply schema's input). */
export type ReplyInputOf<C extends EventContract, S extends ContractSide, TId extends string> = SchemaTypeAt<C, S, TId, 'reply', 'input'>;

/** `[id, data]`, or also `[id]` when the data may be `undefined`. */
export type EventTuple<TId extends string, TData> = undefined extends TData
  ? readonly [id: TId] | readonly [id: TId, data: TData]
  : readonly [id: TId, data: TData];

/**
 * The events side `S` sends, as a union of `readonly [id, data]` narrowed by id: the sender's
 * (`'input'`, the default) or the receiver's view (`'output'`). `ChskEvent` without a contract.
 */
export type EventOf<C extends EventContract, S extends ContractSide, TView extends 'input' | 'output' = 'input'> =
  IsUntyped<C> extends true
    ? ChskEvent
    : {
        [Id in keyof C[S] & string]: EventTuple<Id, TView extends 'input' ? DataInputOf<C, S, Id> : DataOf<C, S, Id>>;
      }[keyof C[S] & string];

/** What a client may `send` (client→server events, sender's view). */
export type ClientEvent<C extends EventContract = UntypedContract> = EventOf<C, 'client'>;
/** What the server may `send` / `broadcast` / `request` (server→client events, sender's view). */
export type ServerEvent<C extends EventContract = UntypedContract> = EventOf<C, 'server'>;

/** A `reply` function taking the replier's view of the reply. */
export type ReplyFn<TReply> = (value: TReply) => void;

/**
 * The part of one event-msg the contract decides. `reply` is present only when the sender asked
 * for one; its type is `undefined` for events that declare no reply (and for reserved events).
 */
export interface EventMsgParts<TId extends string, TData, TReply extends ReplyFn<never> | undefined> {
  readonly event: EventTuple<TId, TData>;
  readonly id: TId;
  readonly data: TData;
  readonly reply?: TReply;
}

/** Reserved events the server's `recv$` carries, by id → data. */
export interface ServerReservedEvents {
  /** A uid got its first connection (any transport). */
  readonly 'chsk/uidport-open': Uid;
  /** A uid lost its last connection (after the reconnect grace). */
  readonly 'chsk/uidport-close': Uid;
  readonly 'chsk/ws-ping': undefined;
  readonly 'chsk/ws-pong': undefined;
}

/** Reserved events the client's `recv$` carries, by id → data. */
export interface ClientReservedEvents<C extends EventContract = UntypedContract> {
  /** `[uid, handshakeData, firstHandshake]`. */
  readonly 'chsk/handshake': HandshakeData;
  /** `[old, new]` state maps. */
  readonly 'chsk/state': StatePair;
  readonly 'chsk/ws-ping': undefined;
  /** A server push, wrapped (only with `wrapRecvEvs: true`). */
  readonly 'chsk/recv': EventOf<C, 'server', 'output'>;
}

type AppMsgParts<C extends EventContract, S extends ContractSide> = {
  [Id in keyof C[S] & string]: EventMsgParts<
    Id,
    DataOf<C, S, Id>,
    HasReply<C, S, Id> extends true ? ReplyFn<ReplyInputOf<C, S, Id>> : undefined
  >;
}[keyof C[S] & string];

type ReservedMsgParts<T> = { [Id in keyof T & string]: EventMsgParts<Id, T[Id], undefined> }[keyof T & string];

type UntypedMsgParts = EventMsgParts<string, unknown, ReplyFn<unknown>>;

/** One object type instead of an intersection: reads better in hovers and compares equal to a plain interface. */
type Flat<T> = { [K in keyof T]: T[K] };

type WithBase<TBase, TParts> = TParts extends unknown ? Flat<TBase & TParts> : never;

/**
 * The server's event-msg: one member per client→server event and per reserved server event, each
 * `TBase` plus `{ event, id, data, reply? }` (flattened into one object type), so `msg.id === 'chat/post'` narrows `data` and `reply`.
 * `TBase` is the rest of the msg (uid, clientId, request, send). Without a contract:
 * `TBase` plus `{ event: ChskEvent; id: string; data: unknown; reply?: (value: unknown) => void }`.
 */
export type ServerEventMsgOf<C extends EventContract = UntypedContract, TBase = unknown> = IsUntyped<C> extends true
  ? Flat<TBase & UntypedMsgParts>
  : WithBase<TBase, AppMsgParts<C, 'client'> | ReservedMsgParts<ServerReservedEvents>>;

/**
 * The client's event-msg: one member per server→client event and per reserved client event
 * (`chsk/handshake`, `chsk/state`, `chsk/ws-ping`, `chsk/recv`); `reply` is there when the server
 * asked (a request). `TBase` is the rest of the msg (send).
 */
export type ClientEventMsgOf<C extends EventContract = UntypedContract, TBase = unknown> = IsUntyped<C> extends true
  ? Flat<TBase & UntypedMsgParts>
  : WithBase<TBase, AppMsgParts<C, 'server'> | ReservedMsgParts<ClientReservedEvents<C>>>;

// ---- defineEvents ----------------------------------------------------------------------------

const SPEC_KEYS = new Set(['data', 'reply']);

function isStandardSchema(x: unknown): x is StandardSchemaV1 {
  if ((typeof x !== 'object' && typeof x !== 'function') || x === null) return false;
  const props: unknown = (x as Record<string, unknown>)['~standard'];
  return (
    typeof props === 'object' &&
    props !== null &&
    (props as Record<string, unknown>).version === 1 &&
    typeof (props as Record<string, unknown>).validate === 'function'
  );
}

function checkSide(side: ContractSide, specs: unknown): EventSpecs {
  if (typeof specs !== 'object' || specs === null || Array.isArray(specs)) {
    throw new TypeError(`defineEvents: "${side}" must be an object of event id → { data, reply? }`);
  }
  const out: Record<string, EventSpec> = Object.create(null) as Record<string, EventSpec>;
  for (const id of Object.keys(specs)) {
    if (isReservedId(id)) throw new TypeError(`defineEvents: ${side} event "${id}": chsk/* ids are reserved for sente-rx`);
    if (validateEvent([id]) !== undefined) throw new TypeError(`defineEvents: ${side} event "${id}": an id needs a namespace, "ns/name"`);
    const spec: unknown = (specs as Record<string, unknown>)[id];
    if (typeof spec !== 'object' || spec === null) throw new TypeError(`defineEvents: ${side} event "${id}" must be { data, reply? }`);
    for (const key of Object.keys(spec)) {
      if (!SPEC_KEYS.has(key)) throw new TypeError(`defineEvents: ${side} event "${id}": unknown key "${key}" (expected data, reply)`);
    }
    const { data, reply } = spec as { data?: unknown; reply?: unknown };
    if (!isStandardSchema(data)) throw new TypeError(`defineEvents: ${side} event "${id}": data must be a Standard Schema v1 validator (a zod 4 schema, …)`);
    if (reply !== undefined && !isStandardSchema(reply)) {
      throw new TypeError(`defineEvents: ${side} event "${id}": reply must be a Standard Schema v1 validator (a zod 4 schema, …)`);
    }
    out[id] = Object.freeze(reply === undefined ? { data } : { data, reply });
  }
  return Object.freeze(out);
}

/**
 * Declares the app's events (see the module comment). Throws a `TypeError` for an id without a
 * namespace, a `chsk/*` id, or a schema that is not a Standard Schema v1 validator; both also fail
 * to compile. The frozen contract carries its own validation (`CONTRACT_CHECKS`), which is how the
 * client gets it: give the client this object, not a hand-built or copied one.
 */
export function defineEvents<TClient extends EventSpecs, TServer extends EventSpecs>(def: {
  readonly client: TClient & CheckIds<TClient>;
  readonly server: TServer & CheckIds<TServer>;
}): EventContract<TClient, TServer> {
  if (typeof def !== 'object' || def === null) throw new TypeError('defineEvents: expected { client, server }');
  const client = checkSide('client', def.client) as TClient;
  const server = checkSide('server', def.server) as TServer;
  const contract = { client, server };
  const checks: ContractChecks = {
    incoming: (from, event, opts) => validateIncoming(contract, from, event, opts),
    reply: (from, id, value) => validateReply(contract, from, id as EventId, value),
    error: validationError,
  };
  // Non-enumerable (defineProperty's default): Object.keys, spreads and toEqual see only client and server.
  Object.defineProperty(contract, CONTRACT_CHECKS, { value: Object.freeze(checks) });
  return Object.freeze(contract);
}

/**
 * The key of the validation `defineEvents` attaches to each contract it returns (a
 * non-enumerable, read-only property), which is all the client reads: an app without a contract
 * does not carry the validation code in its bundle (issue 10). `Symbol.for`, not `Symbol()`, so a
 * contract made by one copy of `@sente-rx/core` (a package of the app's events with its own
 * dependency) still works with a client built on another; the shape of `ContractChecks` is
 * therefore a protocol between copies, and a change to it needs a new key.
 */
export const CONTRACT_CHECKS: unique symbol = Symbol.for('sente-rx.contract');

/** `validateIncoming`, `validateReply` and `validationError`, bound to one contract (`CONTRACT_CHECKS`). */
export interface ContractChecks {
  readonly incoming: (from: ContractSide, event: unknown, opts?: { readonly replyAsked?: boolean }) => Validated<ChskEvent>;
  readonly reply: (from: ContractSide, id: string, value: unknown) => Validated<unknown>;
  readonly error: (id: string, issues: readonly ValidationIssue[]) => ChskError;
}

/** A contract's `ContractChecks`: `undefined` for anything `defineEvents` did not return (a hand-built `{ client, server }`, a copy). */
export const contractChecks = (contract: unknown): ContractChecks | undefined =>
  (contract as { readonly [CONTRACT_CHECKS]?: ContractChecks } | null | undefined)?.[CONTRACT_CHECKS];

// ---- validation ------------------------------------------------------------------------------

/** A validation outcome: the value as the schema produced it, or what is wrong. */
export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

const failure = (message: string, path: readonly PropertyKey[] = []): Validated<never> => ({
  ok: false,
  issues: [{ path, message }],
});

function runSchema(schema: StandardSchemaV1, value: unknown, what: string): Validated<unknown> {
  let result: StandardSchemaV1Result<unknown> | Promise<StandardSchemaV1Result<unknown>>;
  try {
    result = schema['~standard'].validate(value);
  } catch (err) {
    // A schema bug (a refinement that throws) is the app's problem, but it must not escape the receive path.
    return failure(`the schema of ${what} threw: ${err instanceof Error ? err.message : preview(err)}`);
  }
  if (typeof (result as { then?: unknown }).then === 'function') {
    // Swallow the eventual outcome: the receive path is synchronous and has already decided.
    Promise.resolve(result).catch(() => undefined);
    return failure(`the schema of ${what} is asynchronous; sente-rx validates synchronously (drop async refinements and transforms)`);
  }
  const sync = result as StandardSchemaV1Result<unknown>;
  if (sync.issues !== undefined) {
    return {
      ok: false,
      issues: sync.issues.map((i) => ({
        path: (i.path ?? []).map((seg) => (typeof seg === 'object' && seg !== null ? seg.key : seg)),
        message: i.message,
      })),
    };
  }
  return { ok: true, value: sync.value };
}

function specOf(contract: EventContract, from: ContractSide, id: string): EventSpec | undefined {
  const specs = contract[from];
  return Object.hasOwn(specs, id) ? specs[id as EventId] : undefined;
}

/**
 * Validates an event that side `from` sent, against that side of the contract: the id must be
 * listed, the data must pass its schema, and with `replyAsked` the event must declare a reply.
 * The value is the event rebuilt from the schema's output (`[id]` stays `[id]` when the output is
 * `undefined`); issue paths start at the data (an id problem has the empty path). Never throws: a throwing or asynchronous schema is reported as an issue.
 */
export function validateIncoming<C extends EventContract, S extends ContractSide>(
  contract: C,
  from: S,
  event: unknown,
  opts?: { readonly replyAsked?: boolean },
): Validated<EventOf<C, S, 'output'>> {
  const problem = validateEvent(event);
  if (problem !== undefined) return failure(`not an event ([id, data?] with a namespaced id): ${problem}`);
  const ev = event as ChskEvent;
  const id = ev[0];
  if (isReservedId(id)) return failure(`"${id}" is a reserved chsk/ id, not an app event`);
  const spec = specOf(contract, from, id);
  if (spec === undefined) return failure(`unknown event id "${id}": the contract lists no such ${from} event`);
  if (opts?.replyAsked === true && spec.reply === undefined) {
    return failure(`"${id}" declares no reply, but one was asked for`);
  }
  const checked = runSchema(spec.data, ev[1], `"${id}"`);
  if (!checked.ok) return checked;
  const out = checked.value === undefined && ev.length === 1 ? ([id] as const) : ([id, checked.value] as const);
  return { ok: true, value: out as EventOf<C, S, 'output'> };
}

/**
 * Validates the reply to event `id` that side `from` sent (so `'client'` checks what the server
 * answered a client's request). An event without a declared reply accepts none.
 */
export function validateReply<C extends EventContract, S extends ContractSide, TId extends EventIdOf<C, S>>(
  contract: C,
  from: S,
  id: TId,
  value: unknown,
): Validated<ReplyOf<C, S, TId>> {
  const spec = specOf(contract, from, id);
  if (spec === undefined) return failure(`unknown event id "${id}": the contract lists no such ${from} event`);
  if (spec.reply === undefined) return failure(`"${id}" declares no reply`);
  return runSchema(spec.reply, value, `the reply to "${id}"`) as Validated<ReplyOf<C, S, TId>>;
}

/** `items.3.text: Expected string; (root): Unknown key` — for logs and error messages. */
export function describeIssues(issues: readonly ValidationIssue[], max = 5): string {
  const shown = issues.slice(0, max).map((i) => `${i.path.length === 0 ? '(root)' : i.path.map(String).join('.')}: ${i.message}`);
  return issues.length > max ? `${shown.join('; ')}; … (${issues.length} issues)` : shown.join('; ');
}

/** The `'chsk/error'` a request fails with when the contract refused its event or its reply. */
export function validationError(id: string, issues: readonly ValidationIssue[]): ChskError {
  return new ChskError('chsk/error', `"${id}" failed validation: ${describeIssues(issues)}`, { issues });
}
