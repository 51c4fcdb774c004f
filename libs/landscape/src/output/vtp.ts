import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import { landscapeData } from './landscape-data';
import { finiteExtent } from './levels';

/**
 * The loss surface as VTK XML PolyData (ParaView), like h5_to_vtp of Li et al.'s loss-landscape: one point
 * per grid point at (x, y, loss), x varying fastest (point index iy·nx + ix), one quad per grid cell, point
 * data `loss`, `accuracy` (fraction; absent when the loss has none) and `valid` (1 = finite loss), cell data `averaged loss` (mean of
 * the quad's corners, as h5_to_vtp writes).
 *
 * The file is ASCII, and VTK's ASCII reader cannot parse "nan"/"inf". A point whose loss is null or not finite
 * is therefore kept with its z and values set to the lowest finite loss (accuracy 0), flagged valid = 0, and
 * every quad touching it is left out, so it never shows in the surface.
 */
export function renderVtp(result: LandscapeResult): string {
  const data = landscapeData(result);
  if (data.kind !== 'surface') throw new InputError('a VTK surface needs a surface result (got a line)', 'kind');
  const { nx, ny, x, y } = data;
  const losses = data.loss.flat();
  const accuracy = data.accuracy.flat();
  const ok = losses.map((v) => v !== null && Number.isFinite(v));
  const fill = finiteExtent(losses)?.[0] ?? 0;
  // Each loss as text once: the points' z and the loss array print the same numbers.
  const lossData = losses.map((v, i) => (ok[i] ? String(v) : String(fill)));
  // Coordinates as text once per grid column and row, not once per point.
  const xText = x.map(String);
  const points: string[] = [];
  for (let iy = 0; iy < ny; iy++) {
    const yText = String(y[iy]);
    for (let ix = 0; ix < nx; ix++) points.push(`${xText[ix]} ${yText} ${lossData[iy * nx + ix]}`);
  }
  const connectivity: string[] = [];
  const cellLoss: number[] = [];
  for (let iy = 0; iy + 1 < ny; iy++) {
    for (let ix = 0; ix + 1 < nx; ix++) {
      // The quad's corners counter-clockwise from (ix, iy).
      const a = iy * nx + ix;
      const b = a + 1;
      const c = a + nx + 1;
      const d = a + nx;
      if (!(ok[a] && ok[b] && ok[c] && ok[d])) continue;
      connectivity.push(`${a} ${b} ${c} ${d}`);
      cellLoss.push(((losses[a] as number) + (losses[b] as number) + (losses[c] as number) + (losses[d] as number)) / 4);
    }
  }
  const offsets = connectivity.map((_, i) => 4 * (i + 1));
  const accuracyData = accuracy.map((v) => (v !== null && Number.isFinite(v) ? String(v) : '0'));
  return [
    '<?xml version="1.0"?>',
    '<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian">',
    '  <PolyData>',
    `    <Piece NumberOfPoints="${nx * ny}" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" NumberOfPolys="${connectivity.length}">`,
    '      <Points>',
    `        <DataArray type="Float64" Name="Points" NumberOfComponents="3" format="ascii">`,
    points.join('\n'),
    '        </DataArray>',
    '      </Points>',
    '      <Polys>',
    '        <DataArray type="Int64" Name="connectivity" format="ascii">',
    connectivity.join('\n'),
    '        </DataArray>',
    '        <DataArray type="Int64" Name="offsets" format="ascii">',
    offsets.join(' '),
    '        </DataArray>',
    '      </Polys>',
    '      <PointData Scalars="loss">',
    '        <DataArray type="Float64" Name="loss" format="ascii">',
    lossData.join(' '),
    '        </DataArray>',
    ...(data.hasAccuracy ? ['        <DataArray type="Float64" Name="accuracy" format="ascii">', accuracyData.join(' '), '        </DataArray>'] : []),
    '        <DataArray type="UInt8" Name="valid" format="ascii">',
    ok.map((v) => (v ? '1' : '0')).join(' '),
    '        </DataArray>',
    '      </PointData>',
    '      <CellData Scalars="averaged loss">',
    '        <DataArray type="Float64" Name="averaged loss" format="ascii">',
    cellLoss.join(' '),
    '        </DataArray>',
    '      </CellData>',
    '    </Piece>',
    '  </PolyData>',
    '</VTKFile>',
    '',
  ].join('\n');
}
