import { describe, expect, it } from 'vitest';
import { assembleTiles, defaultTileSize, linspace, makeGrid, planTiles, tilePoints } from '@landscape/core';

describe('grid and tiles', () => {
  it('linspace includes both ends and handles one step', () => {
    expect(linspace([-1, 1, 5])).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(linspace([0.3, 0.3, 1])).toEqual([0.3]);
    const alphas = linspace([-0.5, 1.5, 26]);
    expect(alphas).toHaveLength(26);
    expect(alphas[25]).toBe(1.5);
  });

  it('splits a non-square grid into tiles that cover every point once, with stable ids', () => {
    const grid = makeGrid([-1, 1, 9], [-0.5, 0.5, 7]);
    const tiles = planTiles(grid, { x: 4, y: 3 });
    expect(tiles.map((t) => t.id)).toEqual(['r0c0', 'r0c1', 'r0c2', 'r1c0', 'r1c1', 'r1c2', 'r2c0', 'r2c1', 'r2c2']);
    expect(tiles.reduce((sum, t) => sum + tilePoints(t), 0)).toBe(63);
    expect(planTiles(grid, { x: 4, y: 3 })).toEqual(tiles);
    const covered = new Set<string>();
    for (const t of tiles) for (let iy = t.y0; iy < t.y1; iy++) for (let ix = t.x0; ix < t.x1; ix++) covered.add(`${ix},${iy}`);
    expect(covered.size).toBe(63);
  });

  it('assembles tiles into loss[iy][ix] and leaves missing tiles as null', () => {
    const grid = makeGrid([0, 8, 9], [0, 6, 7]);
    const tiles = planTiles(grid, { x: 4, y: 3 });
    const results = tiles
      .filter((t) => t.id !== 'r1c1')
      .map((t) => {
        const loss: number[] = [];
        for (let iy = t.y0; iy < t.y1; iy++) for (let ix = t.x0; ix < t.x1; ix++) loss.push(grid.x[ix]! * 100 + grid.y![iy]!);
        return { tileId: t.id, loss, accuracy: loss.map(() => null) };
      });
    const surface = assembleTiles(grid, tiles, results);
    expect(surface.loss).toHaveLength(7);
    expect(surface.loss[2]![8]).toBe(802);
    expect(surface.loss[6]![0]).toBe(6);
    expect(surface.loss[4]![5]).toBeNull();
    expect(surface.pointsComputed).toBe(63 - 12);
    // a tile delivered twice is placed once
    expect(assembleTiles(grid, tiles, [...results, results[0]!]).pointsComputed).toBe(63 - 12);
  });

  it('chooses default tiles that spread work', () => {
    const grid = makeGrid([-1, 1, 51], [-1, 1, 51]);
    const tiles = planTiles(grid, defaultTileSize(grid, 16));
    expect(tiles.length).toBeGreaterThanOrEqual(16);
    const line = makeGrid([-0.5, 1.5, 41]);
    expect(planTiles(line, defaultTileSize(line, 16)).length).toBeGreaterThanOrEqual(14);
  });
});
