import { resolve } from 'node:path';
import type * as H5Wasm from 'h5wasm';
import { stringifyResult, type LandscapeResult } from '../result';
import { requireEsm } from './esm';
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
export async function writeHdf5(result: LandscapeResult, path: string): Promise<void> {
  const data = landscapeData(result);
  const h5 = requireEsm<typeof H5Wasm>('h5wasm', 'dist/node/hdf5_hl.js');
  await h5.ready;
  const shape = data.kind === 'surface' ? [data.ny, data.nx] : [data.nx];
  const loss = Float64Array.from(data.loss.flat(), (v) => (v === null ? NaN : v));
  const accuracy = Float64Array.from(data.accuracy.flat(), (v) => (v === null ? NaN : 100 * v));
  const computed = Uint8Array.from(data.loss.flat(), (v) => (v === null ? 0 : 1));
  // h5wasm's node build reaches the host file system directly (NODERAWFS); paths resolve against the cwd.
  const file = new h5.File(resolve(path), 'w');
  try {
    file.create_dataset({ name: 'xcoordinates', data: Float64Array.from(data.x) });
    if (data.kind === 'surface') file.create_dataset({ name: 'ycoordinates', data: Float64Array.from(data.y) });
    file.create_dataset({ name: 'train_loss', data: loss, shape });
    file.create_dataset({ name: 'train_acc', data: accuracy, shape });
    file.create_dataset({ name: 'computed', data: computed, shape });
    file.create_attribute('layout', data.kind === 'surface' ? 'train_loss[iy][ix] (row = y): shape (len(ycoordinates), len(xcoordinates))' : 'train_loss[ix]');
    file.create_attribute('accuracy_unit', 'percent');
    file.create_attribute('missing', 'NaN: not computed (computed = 0) or diverged (computed = 1)');
    const { loss: _loss, accuracy: _accuracy, ...provenance } = result;
    file.create_attribute('provenance', stringifyResult(provenance));
  } finally {
    file.close();
  }
}
