import { describe, expect, it } from 'vitest';
import { modelDisplayName, refName } from './names';

describe('names in figures', () => {
  it('a reference is named by the file name of its path; a model directory by the directory', () => {
    expect(refName('/data/runs/model_trained')).toBe('model_trained');
    expect(refName('/data/runs/model_trained/')).toBe('model_trained');
    expect(refName('runs/model_trained/model.json')).toBe('model_trained');
    expect(refName('runs/net.json')).toBe('net.json');
    expect(refName('C:\\runs\\d1.json')).toBe('d1.json');
    // The artifact store's rule for upload names: the same characters survive both ways.
    expect(refName('runs/my model (v2).json')).toBe('my_model__v2_.json');
  });

  it("a model's chosen name wins over its file name; generated names do not", () => {
    expect(modelDisplayName('spiral_net', '/tmp/cache/named/abc/model_trained')).toBe('spiral_net');
    for (const generated of ['sequential_1', 'sequential', 'model_12', 'Functional'])
      expect(modelDisplayName(generated, '/runs/m2_cnn/model.json')).toBe('m2_cnn');
  });
});
