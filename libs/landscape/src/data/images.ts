import type { Dataset } from '../data';
import { createRng } from '../random';

export interface SyntheticImagesSpec {
  n: number;
  seed: number;
  classes: number;
  noise: number;
  /** [height, width, channels] */
  shape: [number, number, number];
}

/**
 * Seeded toy images (NHWC, values around [0, 1]): class k is a sinusoidal grating at orientation πk/classes with a
 * random spatial frequency (1–2.5 cycles per image), phase and per-channel contrast, plus Gaussian pixel noise.
 * Telling orientations apart needs spatial filters, so small CNNs learn it in a few epochs but an average
 * colour does not solve it.
 */
export function syntheticImages(spec: SyntheticImagesSpec): Dataset {
  const [height, width, channels] = spec.shape;
  const size = height * width * channels;
  const rng = createRng(spec.seed);
  const x = new Float32Array(spec.n * size);
  const labels = new Int32Array(spec.n);
  const contrast = new Float64Array(channels);
  for (let i = 0; i < spec.n; i++) {
    const label = i % spec.classes;
    const angle = (Math.PI * label) / spec.classes;
    const frequency = (2 * Math.PI * (1 + 1.5 * rng.uniform())) / Math.max(height, width);
    const phase = 2 * Math.PI * rng.uniform();
    for (let c = 0; c < channels; c++) contrast[c] = 0.25 + 0.25 * rng.uniform();
    const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
    let at = i * size;
    for (let row = 0; row < height; row++) {
      for (let col = 0; col < width; col++) {
        const wave = Math.sin(frequency * (col * cos + row * sin) + phase);
        for (let c = 0; c < channels; c++) x[at++] = 0.5 + contrast[c]! * wave + spec.noise * rng.normal();
      }
    }
    labels[i] = label;
  }
  return {
    n: spec.n,
    sampleShape: [...spec.shape],
    x,
    targets: { kind: 'labels', labels },
    provenance: {
      source: `synthetic:images(n=${spec.n},seed=${spec.seed},classes=${spec.classes},noise=${spec.noise},shape=${height}x${width}x${channels})`,
      total: spec.n,
    },
  };
}
