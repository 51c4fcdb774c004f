import { writeFileSync } from 'node:fs';
import { stringifyResult, type LandscapeResult } from '../result';
import { encodeHdf5 } from './hdf5-writer';
import { landscapeData } from './landscape-data';

/**
 * HDF5 in the dataset layout of Li et al.'s loss-landscape tooling (plot_2D.py, plot_1D.py, h5_to_vtp.py):
 *
 *   xcoordinates  float64 [nx]
 *   ycoordinates  float64 [ny]              (surfaces only)
 *   train_loss    float64 [ny, nx] / [nx]
 *   train_acc     float64 [ny, nx] / [nx]   in PERCENT (100·correct/total), as their tooling stores it
 *   computed      uint8   [ny, nx] / [nx]   1 = evaluated (extra; their scripts ignore it)
 *
 * Orientation: row = y, i.e. train_loss[iy][ix] is the loss at (xcoordinates[ix], ycoordinates[iy]). Their
 * plots do `X, Y = np.meshgrid(x, y); contour(X, Y, Z)`, and meshgrid's default 'xy' indexing gives X, Y the
 * shape (ny, nx), so Z must be (ny, nx) for non-square grids to draw correctly (their crunch writes the flat
 * meshgrid order into a (nx, ny) array, which is only right for square grids). Values not computed, and
 * diverged points, are NaN; `computed` tells the two apart. Root attributes carry units and provenance.
 */
export function writeHdf5(result: LandscapeResult, path: string): void {
  const data = landscapeData(result);
  const shape = data.kind === 'surface' ? [data.ny, data.nx] : [data.nx];
  const { loss: _loss, accuracy: _accuracy, ...provenance } = result;
  // Plain loops: Float64Array.from with a map function takes V8's slow generic path (~20 ms per 10⁵ values).
  const cells = data.nx * data.ny;
  const [loss, accuracy, computed] = [new Float64Array(cells), new Float64Array(cells), new Uint8Array(cells)];
  for (let iy = 0, k = 0; iy < data.ny; iy++) {
    for (let ix = 0; ix < data.nx; ix++, k++) {
      const [l, a] = [data.loss[iy]![ix]!, data.accuracy[iy]![ix]!];
      loss[k] = l === null ? NaN : l;
      accuracy[k] = a === null ? NaN : 100 * a;
      computed[k] = l === null ? 0 : 1;
    }
  }
  const file = encodeHdf5({
    datasets: [
      { name: 'xcoordinates', data: Float64Array.from(data.x) },
      ...(data.kind === 'surface' ? [{ name: 'ycoordinates', data: Float64Array.from(data.y) }] : []),
      { name: 'train_loss', data: loss, shape },
      { name: 'train_acc', data: accuracy, shape },
      { name: 'computed', data: computed, shape },
    ],
    attributes: [
      ['layout', data.kind === 'surface' ? 'train_loss[iy][ix] (row = y): shape (len(ycoordinates), len(xcoordinates))' : 'train_loss[ix]'],
      ['accuracy_unit', 'percent'],
      ['missing', 'NaN: not computed (computed = 0) or diverged (computed = 1)'],
      ['provenance', stringifyResult(provenance)],
    ],
  });
  writeFileSync(path, file);
}
