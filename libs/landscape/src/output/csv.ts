import type { LandscapeResult } from '../result';
import { landscapeData } from './landscape-data';

/** Full precision; NaN/Infinity as JavaScript prints them (pandas and R read both); null → empty cell. */
function field(value: number | null): string {
  return value === null ? '' : String(value);
}

/**
 * One row per point. Surfaces: `ix,iy,x,y,loss,accuracy` with x varying fastest (row-major, like
 * `np.meshgrid(x, y)` raveled); lines: `ix,x,loss,accuracy`. Accuracy is a fraction (0–1), as in result.json.
 */
export function renderCsv(result: LandscapeResult): string {
  const data = landscapeData(result);
  const surface = data.kind === 'surface';
  const lines = [surface ? 'ix,iy,x,y,loss,accuracy' : 'ix,x,loss,accuracy'];
  // The coordinates as text once per grid column and row, not once per point.
  const xText = data.x.map(String);
  for (let iy = 0; iy < data.ny; iy++) {
    const yText = String(data.y[iy]);
    for (let ix = 0; ix < data.nx; ix++) {
      const values = `${field(data.loss[iy]![ix]!)},${field(data.accuracy[iy]![ix]!)}`;
      lines.push(surface ? `${ix},${iy},${xText[ix]},${yText},${values}` : `${ix},${xText[ix]},${values}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
