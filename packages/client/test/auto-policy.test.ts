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
  fc.record({ kind: fc.constant('closed' as const), type, everOpened: fc.boolean(), clean: fc.boolean(), at: fc.nat(100_000) }),
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
          if (inp.kind !== 'reset') expect(step.state.useAjax).toBe(s.useAjax || step.downgrade); // only reset() goes back to WebSocket
          s = step.state;
        }
      }),
    );
  });

  it('a WebSocket that never opened since the last reset downgrades on its first close', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat(100_000), (everOpened, clean, at) => {
        const step = autoStep(initialAutoState(false), { kind: 'closed', type: 'ws', everOpened, clean, at }, WINDOW);
        expect(step.downgrade).toBe(true);
      }),
    );
  });

  it('once WebSocket has opened, a clean close never downgrades and resets the flaky count', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 30 }), fc.nat(100_000), (inputs, at) => {
        const opened = autoStep(initialAutoState(false), { kind: 'opened', type: 'ws', at: 0 }, WINDOW).state;
        const s = run(opened, inputs.filter((i) => i.kind !== 'reset')).state;
        const step = autoStep(s, { kind: 'closed', type: 'ws', everOpened: true, clean: true, at }, WINDOW);
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
          const step = autoStep(s, { kind: 'closed', type: 'ws', everOpened: true, clean, at: t }, WINDOW);
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
          s = step.state;
        }
      }),
    );
  });

  it('Ajax events never change the WebSocket bookkeeping', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 20 }), fc.boolean(), fc.boolean(), fc.nat(100_000), (useAjax, prefix, everOpened, clean, at) => {
        const s = run(initialAutoState(useAjax), prefix).state;
        expect(autoStep(s, { kind: 'closed', type: 'ajax', everOpened, clean, at }, WINDOW)).toEqual({ state: s, downgrade: false });
        const opened = autoStep(s, { kind: 'opened', type: 'ajax', at }, WINDOW).state;
        expect({ ...opened, rememberOnAjaxOpen: s.rememberOnAjaxOpen }).toEqual(s);
      }),
    );
  });
});
