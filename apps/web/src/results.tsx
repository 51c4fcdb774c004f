import type { FunctionComponent } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import type { CurvatureResult, GridValues, HessianResult, JobKind, LandscapeResult } from '@landscape/core';
import type { TrainResult, TrajectoryResult } from '@landscape/metrics';
import type { Data, Layout } from 'plotly.js-dist-min';
import { formatLevel, levelCoordinate, levelScale, levelTicks, type LevelScale, type LevelScheme } from '../../../libs/landscape/src/output/levels';
import { num } from './format';
import { Plot } from './plot';
import { Choice, Head, Toggle } from './widgets';

/** The result.json of each kind, as @landscape/core and @landscape/metrics write it. */
interface ResultByKind {
  line: LandscapeResult;
  surface: LandscapeResult;
  hessian: HessianResult;
  curvature: CurvatureResult;
  train: TrainResult;
  trajectory: TrajectoryResult;
}

const COLORSCALE = 'Viridis';

const hasValues = (values: (number | null)[][] | (number | null)[]): boolean => values.flat().some((v) => v !== null && Number.isFinite(v));
const log10Grid = (grid: GridValues): GridValues => grid.map((row) => row.map((v) => (v !== null && v > 0 ? Math.log10(v) : null)));
/** Hover text per grid point: the value itself, also when the colours follow log10 of it. */
const hoverText = (grid: GridValues): string[][] => grid.map((row) => row.map((v) => num(v, 6)));

interface ContourOptions {
  x: number[];
  y: number[];
  /** [iy][ix], as in result.json. */
  z: GridValues;
  name: string;
  /**
   * How the levels are spaced (the static figures' rule, libs/landscape/src/output/levels.ts): `basin` (default for
   * losses: dense near the minimum), `log`, or `linear` (accuracy, curvature).
   */
  scheme?: LevelScheme;
  /** Levels shared between panels; default: this grid's own. */
  scale?: LevelScale;
}

const LEVELS = 20;

/** The level scale of a grid; a log scale over values that are not all positive falls back to the basin rule. */
function gridScale(z: GridValues, scheme: LevelScheme): LevelScale {
  const values = z.flat();
  const positive = values.every((v) => v === null || !Number.isFinite(v) || v > 0);
  return levelScale(values, LEVELS, scheme === 'log' && !positive ? 'basin' : scheme);
}

/**
 * A filled contour with labelled levels and the exact value on hover. plotly spaces contour levels evenly, so the
 * fill is drawn over each value's level coordinate (level k at k: one band per level, as in contour.svg), and each
 * level's iso-line is its own trace over the values themselves, so its label prints the level.
 */
function contourTraces({ x, y, z, name, scheme = 'basin', scale = gridScale(z, scheme) }: ContourOptions): Data[] {
  const { levels, max } = scale;
  const coordinates = z.map((row) => row.map((v) => (v === null || !Number.isFinite(v) ? null : levelCoordinate(levels, max, v))));
  const { ticks, labels } = levelTicks(levels, max);
  const fill: Data = {
    type: 'contour',
    name,
    x,
    y,
    z: coordinates,
    text: hoverText(z),
    hovertemplate: `x %{x:.4~g}<br>y %{y:.4~g}<br>${name} %{text}<extra></extra>`,
    colorscale: COLORSCALE,
    zmin: 0,
    zmax: Math.max(1, levels.length),
    autocontour: false,
    contours: { start: 0, end: Math.max(1, levels.length), size: 1, coloring: 'fill', showlines: false },
    colorbar: {
      title: { text: scheme === 'log' ? `${name} (log-spaced levels)` : name, side: 'right' },
      tickvals: ticks,
      ticktext: labels,
    },
  };
  const isoLines = levels.slice(1).map((level): Data => ({
    type: 'contour',
    name: `${name} = ${formatLevel(level)}`,
    x,
    y,
    z,
    hoverinfo: 'skip',
    showscale: false,
    showlegend: false,
    autocontour: false,
    contours: { start: level, end: level, size: 1, coloring: 'none', showlabels: true, labelfont: { size: 10, color: 'white' } },
    line: { width: 0.6, color: 'rgba(255,255,255,0.7)' },
  }));
  return [fill, ...isoLines];
}

const modelMarker: Data = {
  type: 'scatter',
  mode: 'markers',
  x: [0],
  y: [0],
  name: 'the model (θ₀)',
  marker: { symbol: 'x', size: 10, color: 'red' },
  hovertemplate: 'the model (θ₀)<extra></extra>',
};

const axes = (x: string, y: string): Layout => ({ xaxis: { title: { text: x } }, yaxis: { title: { text: y } }, legend: { orientation: 'h', y: -0.15 } });

function SurfaceView({ result }: { result: LandscapeResult }) {
  const hasAccuracy = hasValues(result.accuracy as GridValues);
  const [metric, setMetric] = useState<'loss' | 'accuracy'>('loss');
  const [log, setLog] = useState(false);
  const grid = result[metric] as GridValues;
  const y = result.y!;
  const scheme: LevelScheme = metric === 'accuracy' ? 'linear' : log ? 'log' : 'basin';
  const contour = useMemo(() => [...contourTraces({ x: result.x, y, z: grid, name: metric, scheme }), modelMarker], [result, metric, scheme]);
  // Log scale in 3-D: a log z axis and colours by log10, so z (and the hover value) stays the value itself.
  const surface = useMemo<Data[]>(
    () => [
      {
        type: 'surface',
        name: metric,
        x: result.x,
        y,
        z: grid,
        ...(log ? { surfacecolor: log10Grid(grid) } : {}),
        hovertemplate: `x %{x:.4~g}<br>y %{y:.4~g}<br>${metric} %{z:.6~g}<extra></extra>`,
        colorscale: COLORSCALE,
        colorbar: { title: { text: log ? `log₁₀ ${metric}` : metric } },
      },
    ],
    [result, metric, log],
  );
  return (
    <>
      <div class="controls">
        {hasAccuracy && <Choice label="Show" name="metric" value={metric} options={['loss', 'accuracy'] as const} onChange={setMetric} />}
        <Toggle name="log" label="log scale" checked={log} onChange={setLog} />
      </div>
      <div class="plots two">
        <Plot name="contour" data={contour} layout={{ title: { text: `${metric} around the model` }, ...axes('direction x', 'direction y') }} />
        <Plot
          name="surface3d"
          data={surface}
          layout={{
            title: { text: `${metric} surface` },
            scene: { xaxis: { title: { text: 'x' } }, yaxis: { title: { text: 'y' } }, zaxis: { title: { text: metric }, type: log ? 'log' : 'linear' } },
          }}
        />
      </div>
    </>
  );
}

function LineView({ result }: { result: LandscapeResult }) {
  const data = useMemo<Data[]>(() => {
    const traces: Data[] = [
      { type: 'scatter', mode: 'lines+markers', name: 'loss', x: result.x, y: result.loss, hovertemplate: 'α %{x:.4~g}<br>loss %{y:.6~g}<extra></extra>' },
    ];
    if (hasValues(result.accuracy as (number | null)[]))
      traces.push({
        type: 'scatter',
        mode: 'lines',
        name: 'accuracy',
        x: result.x,
        y: result.accuracy,
        yaxis: 'y2',
        line: { dash: 'dot' },
        hovertemplate: 'α %{x:.4~g}<br>accuracy %{y:.4~g}<extra></extra>',
      });
    return traces;
  }, [result]);
  return (
    <Plot
      name="line"
      data={data}
      layout={{
        title: { text: 'loss and accuracy along the line' },
        ...axes('α', 'loss'),
        yaxis2: { title: { text: 'accuracy' }, overlaying: 'y', side: 'right', range: [0, 1] },
      }}
    />
  );
}

function HessianView({ result }: { result: HessianResult }) {
  const [logDensity, setLogDensity] = useState(false);
  const { top, bottom, all } = result.eigenvalues;
  const eigen: Data[] = [];
  if (top) eigen.push({ type: 'scatter', mode: 'markers', name: 'largest', x: top.map((_, i) => i + 1), y: top, marker: { size: 9 } });
  if (bottom)
    eigen.push({ type: 'scatter', mode: 'markers', name: 'smallest', x: bottom.map((_, i) => i + 1), y: bottom, marker: { size: 9, symbol: 'diamond' } });
  if (all && !top && !bottom) eigen.push({ type: 'scatter', mode: 'markers', name: 'all', x: all.map((_, i) => i + 1), y: all });
  return (
    <>
      <table class="facts">
        <tbody>
          {top && (
            <tr>
              <th>largest eigenvalues</th>
              <td data-fact="top">{top.map((v) => num(v, 6)).join(', ')}</td>
            </tr>
          )}
          {bottom && (
            <tr>
              <th>smallest eigenvalues</th>
              <td data-fact="bottom">{bottom.map((v) => num(v, 6)).join(', ')}</td>
            </tr>
          )}
          {result.trace && (
            <tr>
              <th>trace</th>
              <td data-fact="trace">
                {num(result.trace.value, 6)} ± {num(result.trace.stderr, 3)} ({result.trace.method}, {result.trace.samples} samples)
              </td>
            </tr>
          )}
          <tr>
            <th>parameters</th>
            <td>
              {result.trainableParameters} trainable of {result.parameters}, seed {result.seed}
            </td>
          </tr>
        </tbody>
      </table>
      <div class="plots two">
        {eigen.length > 0 && (
          <Plot
            name="eigenvalues"
            data={eigen}
            layout={{ title: { text: 'eigenvalues' }, ...axes('index', 'λ'), xaxis: { title: { text: 'index' }, dtick: 1 } }}
          />
        )}
        {result.density && (
          <div>
            <Toggle name="log-density" label="log density" checked={logDensity} onChange={setLogDensity} />
            <Plot
              name="density"
              data={[{ type: 'scatter', mode: 'lines', name: 'spectral density', x: result.density.grid, y: result.density.values, fill: 'tozeroy' }]}
              layout={{
                title: { text: `spectral density (SLQ, ${result.density.runs} runs × ${result.density.steps} steps)` },
                ...axes('λ', 'density'),
                yaxis: { title: { text: 'density' }, type: logDensity ? 'log' : 'linear', exponentformat: 'power' },
              }}
            />
          </div>
        )}
      </div>
    </>
  );
}

function CurvatureView({ result }: { result: CurvatureResult }) {
  const maps: [string, GridValues][] = [
    ['λmax', result.lambdaMax],
    ['λmin', result.lambdaMin],
    ['|λmin/λmax|', result.ratio],
  ];
  return (
    <>
      <p class="muted">
        {result.unconverged} of {result.pointsComputed} points stopped at {result.curvature.maxSteps} Lanczos steps before tolerance {result.curvature.tol}.
      </p>
      <div class="plots three">
        {maps.map(([name, z]) => (
          <Plot
            name={`curvature-${name}`}
            data={[...contourTraces({ x: result.x, y: result.y, z, name, scheme: 'linear' }), modelMarker]}
            layout={{ title: { text: name }, ...axes('x', 'y') }}
            height={380}
          />
        ))}
      </div>
    </>
  );
}

function TrajectoryView({ result }: { result: TrajectoryResult }) {
  const methods = Object.entries(result.methods).filter((entry): entry is [string, NonNullable<(typeof entry)[1]>] => entry[1] !== undefined);
  // One level scale (the same levels and colours) for every panel, so they compare by eye.
  const scale = levelScale(
    methods.flatMap(([, method]) => method.grid.loss.flat()),
    LEVELS,
  );
  return (
    <>
      <div class="plots two">
        {methods.map(([name, method]) => (
          <Plot
            name={`trajectory-${name}`}
            data={[
              ...contourTraces({ x: method.grid.x, y: method.grid.y, z: method.grid.loss, name: 'loss', scale }),
              {
                type: 'scatter',
                mode: 'lines+markers',
                name: 'checkpoints',
                x: method.coords.map((c) => c[0]),
                y: method.coords.map((c) => c[1]),
                text: method.coords.map((_, i) => `checkpoint ${i}${result.steps ? ` (step ${result.steps[i]})` : ''}`),
                hovertemplate: '%{text}<extra></extra>',
                line: { color: 'white', width: 2 },
                marker: { color: 'white', size: 5, line: { color: 'black', width: 1 } },
              },
            ]}
            layout={{ title: { text: name }, ...axes(method.axes.x, method.axes.y) }}
            height={400}
          />
        ))}
      </div>
      <table class="metrics">
        <Head columns={['method', 'trustworthiness', 'continuity', 'reconstruction MSE', 'relative loss error', 'explained variance']} />
        <tbody>
          {methods.map(([name, method]) => (
            <tr>
              <td>{name}</td>
              <td>{num(method.trustworthiness)}</td>
              <td>{num(method.continuity)}</td>
              <td>{num(method.reconstructionMse)}</td>
              <td>{num(method.relativeLossError)}</td>
              <td>{method.explainedVarianceRatio ? method.explainedVarianceRatio.map((v) => num(v, 3)).join(', ') : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        {result.checkpoints} checkpoints, k = {result.neighbors} neighbours.
      </p>
    </>
  );
}

function TrainView({ result }: { result: TrainResult }) {
  return (
    <>
      <p>
        {result.optimizer.type}, learning rate {result.optimizer.learningRate}, {result.epochs} epochs, batch {result.batchSize}: final loss{' '}
        <strong data-fact="final-loss">{num(result.finalLoss, 6)}</strong>
      </p>
      <Plot
        name="loss-curve"
        data={[{ type: 'scatter', mode: 'lines', name: 'training loss', x: result.steps, y: result.losses }]}
        layout={{ title: { text: 'loss curve' }, ...axes('optimizer step', 'loss') }}
      />
    </>
  );
}

/** One view per job kind: a kind added to the spec schema fails to compile here until it has a view. */
const VIEWS: { [K in JobKind]: FunctionComponent<{ result: ResultByKind[K] }> } = {
  line: LineView,
  surface: SurfaceView,
  hessian: HessianView,
  curvature: CurvatureView,
  train: TrainView,
  trajectory: TrajectoryView,
};

export const JOB_KINDS = Object.keys(VIEWS) as JobKind[];

export function ResultView({ kind, result }: { kind: string; result: unknown }) {
  const View = (VIEWS as Record<string, FunctionComponent<{ result: unknown }> | undefined>)[kind];
  return View ? <View result={result} /> : <p class="muted">No view for jobs of kind {kind}; the files are below.</p>;
}
