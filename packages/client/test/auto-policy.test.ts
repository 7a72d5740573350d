/**
 * The `auto` fallback policy as a pure function: properties over arbitrary sequences of what can
 * happen (handshakes and closes of either transport, resets), checked against a model of the rule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AutoInput, type AutoState, autoStep, initialAutoState } from '../src/auto-policy.js';

const WINDOW = 5_000;

const type = fc.constantFrom<'ws' | 'ajax'>('ws', 'ajax');
const input: fc.Arbitrary<AutoInput> = fc.oneof(
  fc.record({ kind: fc.constant('opened' as const), type, at: fc.nat(100_000) }),
  fc.record({ kind: fc.constant('closed' as const), type, everOpened: fc.boolean(), clean: fc.boolean(), answered: fc.boolean(), at: fc.nat(100_000) }),
  fc.record({ kind: fc.constant('reset' as const), wsAvailable: fc.boolean() }),
);

function run(start: AutoState, inputs: readonly AutoInput[]): { state: AutoState; downgrades: number[]; remembers: (boolean | undefined)[] } {
  let state = start;
  const downgrades: number[] = [];
  const remembers: (boolean | undefined)[] = [];
  inputs.forEach((inp, i) => {
    const step = autoStep(state, inp, WINDOW);
    state = step.state;
    if (step.downgrade) downgrades.push(i);
    remembers.push(step.remember);
  });
  return { state, downgrades, remembers };
}

describe('auto policy (properties)', () => {
  it('is pure: the same state and input give the same step, and the input state is not changed', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 20 }), input, (useAjax, prefix, last) => {
        const s = run(initialAutoState(useAjax), prefix).state;
        const copy = { ...s };
        expect(autoStep(s, last, WINDOW)).toEqual(autoStep(s, last, WINDOW));
        expect(s).toEqual(copy);
      }),
    );
  });

  it('only a WebSocket close can downgrade, and a downgrade always switches to Ajax', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 30 }), (useAjax, inputs) => {
        let s = initialAutoState(useAjax);
        for (const inp of inputs) {
          const step = autoStep(s, inp, WINDOW);
          if (step.downgrade) {
            expect(inp).toMatchObject({ kind: 'closed', type: 'ws' });
            expect(step.state.useAjax).toBe(true);
            expect(step.state.rememberOnAjaxOpen).toBe(true);
          }
          // Only reset(), or an Ajax probe that found the server down, goes back to WebSocket.
          const serverDown = inp.kind === 'closed' && inp.type === 'ajax' && !inp.everOpened && !inp.answered && s.rememberOnAjaxOpen;
          if (inp.kind !== 'reset') expect(step.state.useAjax).toBe((s.useAjax && !serverDown) || step.downgrade);
          s = step.state;
        }
      }),
    );
  });

  it('a WebSocket that never opened since the last reset downgrades on its first close', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat(100_000), (everOpened, clean, at) => {
        const step = autoStep(initialAutoState(false), { kind: 'closed', type: 'ws', everOpened, clean, answered: false, at }, WINDOW);
        expect(step.downgrade).toBe(true);
      }),
    );
  });

  it('once WebSocket has opened, a clean close never downgrades and resets the flaky count', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 30 }), fc.nat(100_000), (inputs, at) => {
        const opened = autoStep(initialAutoState(false), { kind: 'opened', type: 'ws', at: 0 }, WINDOW).state;
        const s = run(opened, inputs.filter((i) => i.kind !== 'reset')).state;
        const step = autoStep(s, { kind: 'closed', type: 'ws', everOpened: true, clean: true, answered: false, at }, WINDOW);
        expect(step.downgrade).toBe(false);
        expect(step.state.wsFlaky).toBe(0);
      }),
    );
  });

  it('after WebSocket opened, it downgrades exactly on the second abnormal close within the window in a row', () => {
    const life = fc.record({ lived: fc.nat(2 * WINDOW), clean: fc.boolean() });
    fc.assert(
      fc.property(fc.array(life, { minLength: 1, maxLength: 12 }), (lives) => {
        let s = initialAutoState(false);
        let t = 0;
        let flaky = 0; // the model
        for (const { lived, clean } of lives) {
          s = autoStep(s, { kind: 'opened', type: 'ws', at: t }, WINDOW).state;
          t += lived;
          const step = autoStep(s, { kind: 'closed', type: 'ws', everOpened: true, clean, answered: false, at: t }, WINDOW);
          flaky = !clean && lived < WINDOW ? flaky + 1 : 0;
          expect(step.downgrade).toBe(flaky >= 2);
          if (step.downgrade) return;
          s = step.state;
        }
      }),
    );
  });

  it('remembers the fallback only when Ajax opens after a downgrade, once; reset forgets it and tries WebSocket when there is one', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 30 }), (useAjax, inputs) => {
        let s = initialAutoState(useAjax);
        let armed = false; // model: a downgrade happened and Ajax has not opened since
        for (const inp of inputs) {
          const step = autoStep(s, inp, WINDOW);
          if (inp.kind === 'reset') {
            expect(step.remember).toBe(false);
            expect(step.state).toEqual(initialAutoState(!inp.wsAvailable));
            armed = false;
          } else if (inp.kind === 'opened' && inp.type === 'ajax' && armed) {
            expect(step.remember).toBe(true);
            armed = false;
          } else expect(step.remember).toBeUndefined();
          if (step.downgrade) armed = true;
          if (inp.kind === 'closed' && inp.type === 'ajax' && !inp.everOpened && !inp.answered && s.useAjax) armed = false; // server down
          s = step.state;
        }
      }),
    );
  });

  it('Ajax events never change the WebSocket bookkeeping', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 20 }), fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(100_000), (useAjax, prefix, everOpened, clean, answered, at) => {
        const s = run(initialAutoState(useAjax), prefix).state;
        const closed = autoStep(s, { kind: 'closed', type: 'ajax', everOpened, clean, answered, at }, WINDOW);
        expect(closed.downgrade).toBe(false);
        expect(closed.remember).toBeUndefined();
        const ws = ({ wsEverOpened, wsOpenedAt, wsFlaky }: AutoState) => ({ wsEverOpened, wsOpenedAt, wsFlaky });
        expect(ws(closed.state)).toEqual(ws(s));
        const opened = autoStep(s, { kind: 'opened', type: 'ajax', at }, WINDOW).state;
        expect({ ...opened, rememberOnAjaxOpen: s.rememberOnAjaxOpen }).toEqual(s);
      }),
    );
  });
});

/** Issue 9 item 6 (auto): a server that is down refuses both transports; that is no reason to pin Ajax. */
describe('auto policy: a server that is down is not a blocked WebSocket (properties)', () => {
  /** What a down server gives: every attempt of either kind fails with no HTTP answer. */
  const refused = (type: 'ws' | 'ajax', at: number): AutoInput => ({ kind: 'closed', type, everOpened: false, clean: false, answered: false, at });

  it('while every attempt is refused, nothing is remembered and the attempt after an Ajax failure is WebSocket', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(100_000), { minLength: 1, maxLength: 40 }), (times) => {
        let s = initialAutoState(false);
        for (const at of times) {
          const type = s.useAjax ? 'ajax' : 'ws'; // what the client connects next
          const step = autoStep(s, refused(type, at), WINDOW);
          expect(step.remember).toBeUndefined();
          if (type === 'ajax') expect(step.state.useAjax).toBe(false); // back to WebSocket first
          s = step.state;
        }
      }),
    );
  });

  it('the server comes back: the first connection after a refused Ajax attempt is WebSocket, which opens and is kept', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(100_000), (downFor, at) => {
        let s = initialAutoState(false);
        for (let i = 0; i < downFor; i++) s = autoStep(s, refused(s.useAjax ? 'ajax' : 'ws', at), WINDOW).state;
        if (s.useAjax) s = autoStep(s, refused('ajax', at), WINDOW).state; // the probe right after the WebSocket failure
        expect(s.useAjax).toBe(false);
        const opened = autoStep(s, { kind: 'opened', type: 'ws', at }, WINDOW);
        expect(opened.remember).toBeUndefined();
        expect(opened.state.useAjax).toBe(false);
      }),
    );
  });

  it('HTTP works and WebSocket does not: the Ajax probe opens and the fallback is remembered', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.nat(100_000), (answered, at) => {
        const down = autoStep(initialAutoState(false), { kind: 'closed', type: 'ws', everOpened: false, clean: false, answered, at }, WINDOW);
        expect(down.downgrade).toBe(true);
        const opened = autoStep(down.state, { kind: 'opened', type: 'ajax', at }, WINDOW);
        expect(opened.remember).toBe(true);
        expect(opened.state.useAjax).toBe(true);
        // An Ajax attempt that got an HTTP answer (a 5xx, a 403) is not a down server: stay on Ajax.
        const answeredFail = autoStep(down.state, { kind: 'closed', type: 'ajax', everOpened: false, clean: false, answered: true, at }, WINDOW);
        expect(answeredFail.state.useAjax).toBe(true);
      }),
    );
  });
});
