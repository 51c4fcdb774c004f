import { requireEsm } from './esm';
import type { LandscapeData } from './landscape-data';

/** The part of d3-contour 4 used here (the package ships no types). */
export interface ContourMultiPolygon {
  value: number;
  /** Polygons → rings → [x, y] points in grid units: value i sits at i + 0.5, the grid spans [0, n]. */
  coordinates: [number, number][][][];
}
interface ContoursGenerator {
  (values: ArrayLike<number>): ContourMultiPolygon[];
  size(size: [number, number]): ContoursGenerator;
  thresholds(thresholds: number[]): ContoursGenerator;
}
interface D3Contour {
  contours(): ContoursGenerator;
}

/** The last surface contoured, by value: contour.svg and surface.html of one result ask for the same bands. */
let last: { z: Float64Array; nx: number; thresholds: number[]; bands: readonly ContourMultiPolygon[] } | undefined;

/**
 * The filled regions loss ≥ threshold of a surface, one per threshold (d3-contour's marching squares), shared by
 * the SVG contour and the 3-D view. null/NaN/−∞ are holes; +∞ (diverged) counts as above every level. The same
 * values and thresholds as the previous call (compared entry by entry) return the previous bands: read-only.
 */
export function contourBands(data: LandscapeData, thresholds: readonly number[]): readonly ContourMultiPolygon[] {
  // Row-major [iy][ix], exactly the layout d3-contour reads (x fastest).
  const z = new Float64Array(data.nx * data.ny);
  data.loss.forEach((row, iy) =>
    row.forEach((v, ix) => {
      z[iy * data.nx + ix] = v === null || Number.isNaN(v) || v === -Infinity ? NaN : v;
    }),
  );
  if (last && last.nx === data.nx && sameValues(last.z, z) && sameValues(last.thresholds, thresholds)) return last.bands;
  const bands = requireEsm<D3Contour>('d3-contour')
    .contours()
    .size([data.nx, data.ny])
    .thresholds([...thresholds])(z);
  last = { z, nx: data.nx, thresholds: [...thresholds], bands };
  return bands;
}

/** Equal lengths and entries, NaN equal to NaN. */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(a[i] === b[i])) return false;
  return true;
}

/** Grid units → data coordinates on one axis: value i sits at i + 0.5; positions beyond the outer points clamp to the edge. */
export function gridToData(c: number, axisValues: readonly number[]): number {
  const i = Math.min(axisValues.length - 1, Math.max(0, c - 0.5));
  const k = Math.min(axisValues.length - 2, Math.floor(i));
  return axisValues[k]! + (i - k) * (axisValues[k + 1]! - axisValues[k]!);
}

/**
 * The stretches of a band's ring that are iso-line, in grid units: the ring without the parts along the grid's edge
 * or next to a point without a finite loss (those bound the band, they are not the level), at least two points each.
 */
export function isoRuns(ring: readonly [number, number][], data: LandscapeData): [number, number][][] {
  const { nx, ny, loss } = data;
  const finite = (ix: number, iy: number): boolean => Number.isFinite(loss[iy]?.[ix] ?? NaN);
  const interior = ([cx, cy]: readonly [number, number]): boolean => {
    if (!(cx > 1 && cx < nx - 1 && cy > 1 && cy < ny - 1)) return false;
    // Every grid point on a segment through this point: a point exactly on a grid point may come from either side.
    for (let iy = Math.ceil(cy - 0.5) - 1; iy <= Math.floor(cy - 0.5) + 1; iy++)
      for (let ix = Math.ceil(cx - 0.5) - 1; ix <= Math.floor(cx - 0.5) + 1; ix++) if (!finite(ix, iy)) return false;
    return true;
  };
  const runs: [number, number][][] = [];
  let current: [number, number][] = [];
  for (const point of ring) {
    if (interior(point)) {
      current.push(point);
      continue;
    }
    if (current.length > 1) runs.push(current);
    current = [];
  }
  if (current.length > 1) runs.push(current);
  // A ring is closed: when it starts and ends inside, its last stretch continues into its first.
  if (runs.length > 1 && interior(ring[0]!) && interior(ring[ring.length - 1]!)) runs[0] = [...runs.pop()!, ...runs[0]!];
  return runs;
}
