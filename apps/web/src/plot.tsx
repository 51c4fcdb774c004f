import { useEffect, useRef } from 'preact/hooks';
import type { Data, Layout } from 'plotly.js-dist-min';

/** plotly.js is large: loaded once, on the first page that draws a plot. */
let plotly: Promise<typeof import('plotly.js-dist-min').default> | undefined;
export const loadPlotly = () => (plotly ??= import('plotly.js-dist-min').then((module) => module.default));

export interface PlotProps {
  data: Data[];
  layout: Layout;
  /** Marks the plot for the browser tests and for screen readers. */
  name: string;
  height?: number;
}

/** One interactive plotly figure; redrawn in place when its data or layout change. */
export function Plot({ data, layout, name, height = 460 }: PlotProps) {
  const element = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let cancelled = false;
    void loadPlotly().then((Plotly) => {
      if (cancelled || !element.current) return;
      void Plotly.react(element.current, data, { height, margin: { l: 60, r: 20, t: 40, b: 50 }, ...layout }, { responsive: true, displaylogo: false });
    });
    return () => {
      cancelled = true;
    };
  }, [data, layout, height]);
  useEffect(() => {
    const node = element.current;
    return () => {
      if (node) void loadPlotly().then((Plotly) => Plotly.purge(node));
    };
  }, []);
  return <div class="plot" data-plot={name} aria-label={name} ref={element} style={{ minHeight: `${height}px` }} />;
}
