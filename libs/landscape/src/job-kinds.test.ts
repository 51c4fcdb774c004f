import { describe, expect, it } from 'vitest';
import { jobKind, JobKindRegistry, specKinds } from './job-kinds';
import { landscapeJobKinds } from './landscape-kinds';
import { landscapeHandler } from './landscape-job';

describe('job-kind registry', () => {
  const location = { module: __filename, name: 'none' };

  it('refuses a kind listed twice', () => {
    expect(() => new JobKindRegistry(location, [jobKind('line', landscapeHandler), jobKind('line', landscapeHandler)])).toThrow(
      "job kind 'line' is registered twice",
    );
  });

  it('names the kinds of the spec schema that have no handler at the startup check', () => {
    const partial = new JobKindRegistry(location, landscapeJobKinds);
    expect(partial.kinds()).toEqual(['line', 'surface', 'hessian', 'curvature']);
    expect(() => partial.checkComplete()).toThrow('job kinds without a handler: train, trajectory');
    expect(specKinds()).toEqual(['line', 'surface', 'hessian', 'curvature', 'train', 'trajectory']);
  });
});
