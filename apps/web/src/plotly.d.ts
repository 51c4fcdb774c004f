/** The part of plotly.js the app uses (plotly.js-dist-min ships no types). */
declare module 'plotly.js-dist-min' {
  export type Data = Record<string, unknown>;
  export type Layout = Record<string, unknown>;
  interface Plotly {
    react(element: HTMLElement, data: Data[], layout: Layout, config?: Record<string, unknown>): Promise<unknown>;
    purge(element: HTMLElement): void;
  }
  const plotly: Plotly;
  export default plotly;
}
