import type { Grid } from './grid';
import { gridSize } from './grid';
import type { PointsPerPassRecord } from './multipoint';

/**
 * A rectangle of grid points [x0, x1) × [y0, y1). Tiles are how a grid is split into units of work, in threads
 * (embedded) and in queue jobs (distributed); both paths use exactly these functions.
 */
export interface Tile {
  /** Stable id from the tile's position in the tiling: `r<row>c<col>`. */
  id: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export interface TileSize {
  x: number;
  y: number;
}

export function tilePoints(tile: Tile): number {
  return (tile.x1 - tile.x0) * (tile.y1 - tile.y0);
}

/** Row-major (y outer, x inner) tiling; edge tiles are smaller when the size does not divide the grid. */
export function planTiles(grid: Grid, size: TileSize): Tile[] {
  const { nx, ny } = gridSize(grid);
  const tiles: Tile[] = [];
  for (let row = 0, y0 = 0; y0 < ny; row++, y0 += size.y) {
    for (let col = 0, x0 = 0; x0 < nx; col++, x0 += size.x) {
      tiles.push({ id: `r${row}c${col}`, x0, x1: Math.min(nx, x0 + size.x), y0, y1: Math.min(ny, y0 + size.y) });
    }
  }
  return tiles;
}

/**
 * A tile size that gives at least `minTiles` tiles (so work spreads over workers) without tiles of fewer than
 * a few points (queue overhead per tile).
 */
export function defaultTileSize(grid: Grid, minTiles: number): TileSize {
  const { nx, ny } = gridSize(grid);
  if (ny === 1) return { x: Math.max(1, Math.ceil(nx / Math.max(1, minTiles))), y: 1 };
  const rowsPerTile = Math.max(1, Math.floor(ny / Math.max(1, minTiles)));
  if (ny / rowsPerTile >= minTiles || rowsPerTile > 1) return { x: nx, y: rowsPerTile };
  return { x: Math.max(1, Math.ceil((nx * ny) / minTiles)), y: 1 };
}

/** Values of one tile, row-major over the tile (y outer, x inner). */
export interface TileResult {
  tileId: string;
  loss: number[];
  accuracy: (number | null)[];
  /** How the unit's evaluator chose its points per pass (line and surface units). */
  pointsPerPass?: PointsPerPassRecord;
}

/** A grid of values where null marks a point that was not computed. */
export type GridValues = (number | null)[][];

export interface AssembledSurface {
  loss: GridValues;
  accuracy: GridValues;
  pointsComputed: number;
}

export function emptyValues(grid: Grid): GridValues {
  const { nx, ny } = gridSize(grid);
  return Array.from({ length: ny }, () => new Array<number | null>(nx).fill(null));
}

/** Places tile results into [iy][ix] arrays; results for unknown tiles are an error, missing tiles stay null. */
export function assembleTiles(grid: Grid, tiles: readonly Tile[], results: Iterable<TileResult>): AssembledSurface {
  const byId = new Map(tiles.map((tile) => [tile.id, tile]));
  const loss = emptyValues(grid);
  const accuracy = emptyValues(grid);
  let pointsComputed = 0;
  for (const result of results) {
    const tile = byId.get(result.tileId);
    if (!tile) throw new Error(`result for unknown tile ${result.tileId}`);
    if (result.loss.length !== tilePoints(tile)) throw new Error(`tile ${tile.id} has ${result.loss.length} values, expected ${tilePoints(tile)}`);
    let k = 0;
    for (let iy = tile.y0; iy < tile.y1; iy++) {
      for (let ix = tile.x0; ix < tile.x1; ix++, k++) {
        if (loss[iy]![ix] === null) pointsComputed++;
        loss[iy]![ix] = result.loss[k]!;
        accuracy[iy]![ix] = result.accuracy[k] ?? null;
      }
    }
  }
  return { loss, accuracy, pointsComputed };
}
