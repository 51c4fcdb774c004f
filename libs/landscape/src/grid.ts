/** An axis `[min, max, steps]`: `steps` evenly spaced values from min to max inclusive. */
export type AxisSpec = readonly [number, number, number];

export interface Grid {
  x: number[];
  /** Absent for 1-D lines. */
  y?: number[];
}

export function linspace([min, max, steps]: AxisSpec): number[] {
  if (steps === 1) return [min];
  // min + (max − min)·i/(steps − 1) hits both end points exactly.
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 ? max : min + ((max - min) * i) / (steps - 1)));
}

export function makeGrid(x: AxisSpec, y?: AxisSpec): Grid {
  return y ? { x: linspace(x), y: linspace(y) } : { x: linspace(x) };
}

/** Columns (x) and rows (y); a line has one row. */
export function gridSize(grid: Grid): { nx: number; ny: number; points: number } {
  const nx = grid.x.length;
  const ny = grid.y?.length ?? 1;
  return { nx, ny, points: nx * ny };
}

/** Point coordinates: (x[ix], y[iy]); lines have iy = 0 and a single coefficient. */
export function coefficientsAt(grid: Grid, ix: number, iy: number): number[] {
  return grid.y ? [grid.x[ix]!, grid.y[iy]!] : [grid.x[ix]!];
}
