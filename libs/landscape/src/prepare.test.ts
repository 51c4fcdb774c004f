import { describe, expect, it } from 'vitest';
import { PlannedPreparation, type RefResolver } from '@landscape/core';

describe('PlannedPreparation', () => {
  const counting = () => {
    const calls: string[] = [];
    const planned = new PlannedPreparation<{ data: string }, { path: string; call: number }>((spec, resolve) => {
      calls.push(spec.data);
      return { path: resolve(spec.data, 'data'), call: calls.length };
    });
    return { calls, planned };
  };
  const at =
    (dir: string): RefResolver =>
    (ref) =>
      `${dir}/${ref}`;

  it('hands what plan prepared to the first prepare of the same spec, once', () => {
    const { calls, planned } = counting();
    const spec = { data: 'data.json' };
    const fromPlan = planned.plan(spec, at('/a'));
    expect(planned.prepare(spec, at('/a'))).toBe(fromPlan);
    expect(planned.prepare(spec, at('/a'))).not.toBe(fromPlan);
    expect(calls).toHaveLength(2);
  });

  it('prepares again when a reference resolves elsewhere or the spec is another object', () => {
    const { calls, planned } = counting();
    const spec = { data: 'data.json' };
    planned.plan(spec, at('/a'));
    expect(planned.prepare(spec, at('/b'))).toEqual({ path: '/b/data.json', call: 2 });
    planned.plan(spec, at('/a'));
    expect(planned.prepare({ ...spec }, at('/a')).call).toBe(4);
    expect(calls).toHaveLength(4);
  });
});
