import { useEffect, useState } from 'preact/hooks';

/** Hash routes (`#/jobs/<id>`): the server serves one index.html at `/` and needs no route of its own per page. */
export function useRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'jobs').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export const go = (path: string): void => void (location.hash = `#/${path}`);

/** Calls `load` now and every `ms` until `active` turns false; returns the latest value and error. */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[], active = true): { value?: T; error?: Error } {
  const [state, setState] = useState<{ value?: T; error?: Error }>({});
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async (): Promise<void> => {
      try {
        const value = await load();
        if (!stopped) setState({ value });
      } catch (error) {
        if (!stopped) setState((previous) => ({ ...previous, error: error as Error }));
      }
      if (!stopped && active) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, active]);
  return state;
}

/** Loads once per change of `deps`. */
export const useLoad = <T>(load: () => Promise<T>, deps: unknown[]): { value?: T; error?: Error } => usePoll(load, 0, deps, false);
