import { useEffect, useState } from 'preact/hooks';
import type { JobKind } from '@landscape/core';
import { api, ApiError, type JobView, type SpecIssue } from '../api';
import { JOB_KINDS } from '../results';
import { go } from '../route';
import { Choice } from '../widgets';

/** A starting spec per kind (docs/job-spec.md has every field); file fields are filled from the uploads below. */
const TEMPLATES: Record<JobKind, object> = {
  surface: {
    kind: 'surface',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { seed: 1 }, y: { seed: 2 }, normalization: 'filter' },
    grid: { x: [-1, 1, 21], y: [-1, 1, 21] },
  },
  line: { kind: 'line', loss: 'sparse_categorical_crossentropy', directions: { x: { seed: 1 } }, grid: { x: [-1, 1, 41] } },
  hessian: {
    kind: 'hessian',
    loss: 'sparse_categorical_crossentropy',
    top: { k: 3 },
    trace: { method: 'hutchinson', samples: 30 },
    density: { runs: 4, steps: 40 },
  },
  curvature: {
    kind: 'curvature',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { seed: 1 }, y: { seed: 2 } },
    grid: { x: [-1, 1, 7], y: [-1, 1, 5] },
  },
  train: {
    kind: 'train',
    model: { type: 'mlp', input: [2], hidden: [{ units: 16 }], outputs: 3 },
    data: { synthetic: 'spirals', n: 300, classes: 3, seed: 1 },
    loss: 'sparse_categorical_crossentropy',
    epochs: 20,
    learningRate: 0.05,
  },
  trajectory: { kind: 'trajectory', loss: 'sparse_categorical_crossentropy', methods: ['pca', 'umap'] },
};

/** Spec fields that name an uploaded artifact (the artifact kind is the field's name). */
const FILE_FIELDS = [
  { field: 'model', label: 'Model: model.json and its weight files', multiple: true },
  { field: 'data', label: 'Data (.json or .csv)', multiple: false },
  { field: 'trajectory', label: 'Trajectory (a train job’s trajectory.json)', multiple: false, kinds: ['trajectory'] },
] as const;

type Uploads = Partial<Record<(typeof FILE_FIELDS)[number]['field'], File[]>>;

const pretty = (value: unknown): string => JSON.stringify(value, null, 2);

/** The spec as typed, with a stand-in for each field whose file is still to upload (refs are free-form strings). */
function withUploads(spec: Record<string, unknown>, uploads: Uploads, ids?: Partial<Record<string, string>>): Record<string, unknown> {
  const out = { ...spec };
  for (const [field, files] of Object.entries(uploads)) if (files?.length) out[field] = ids?.[field] ?? `upload:${files.map((file) => file.name).join('+')}`;
  return out;
}

function parseSpec(text: string): { spec?: Record<string, unknown>; issue?: SpecIssue } {
  try {
    const spec = JSON.parse(text) as unknown;
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) return { issue: { field: '(spec)', reason: 'must be a JSON object' } };
    return { spec: spec as Record<string, unknown> };
  } catch (error) {
    return { issue: { field: '(spec)', reason: `not JSON: ${(error as Error).message}` } };
  }
}

/** Upload the files, submit the spec, go to the job's page. The spec is checked by the server's own schema as it is typed. */
export function SubmitPage() {
  const [kind, setKind] = useState<JobKind>('surface');
  const [text, setText] = useState(pretty(TEMPLATES.surface));
  const [uploads, setUploads] = useState<Uploads>({});
  const [issues, setIssues] = useState<SpecIssue[]>([]);
  const [checked, setChecked] = useState(false);
  const [state, setState] = useState<string>();

  useEffect(() => {
    setChecked(false);
    const parsed = parseSpec(text);
    if (!parsed.spec) return setIssues([parsed.issue!]);
    const timer = setTimeout(() => {
      api<{ valid: boolean; issues: SpecIssue[] }>('POST', '/v1/jobs/validate', withUploads(parsed.spec!, uploads)).then(
        (answer) => {
          setIssues(answer.issues);
          setChecked(true);
        },
        (error: Error) => setIssues([{ field: '(spec)', reason: error.message }]),
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [text, uploads]);

  const chooseKind = (next: JobKind) => {
    setKind(next);
    setText(pretty(TEMPLATES[next]));
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const { spec } = parseSpec(text);
    if (!spec) return;
    try {
      const ids: Record<string, string> = {};
      for (const [field, files] of Object.entries(uploads)) {
        if (!files?.length) continue;
        setState(`uploading ${field}…`);
        ids[field] = field === 'model' ? await uploadModel(files) : await uploadFile(field, files[0]!);
      }
      setState('submitting…');
      const job = await api<JobView>('POST', '/v1/jobs', withUploads(spec, uploads, ids));
      go(`jobs/${job.id}`);
    } catch (error) {
      setState(undefined);
      if (error instanceof ApiError && error.issues.length) setIssues(error.issues);
      else setIssues([{ field: '(submit)', reason: (error as Error).message }]);
    }
  };

  return (
    <section>
      <h1>Submit a job</h1>
      <form class="submit" onSubmit={submit}>
        <Choice label="Kind" name="kind" value={kind} options={JOB_KINDS} onChange={chooseKind} />
        {FILE_FIELDS.filter((input) => !('kinds' in input) || (input.kinds as readonly string[]).includes(kind)).map((input) => (
          <label>
            {input.label}
            <input
              type="file"
              name={input.field}
              multiple={input.multiple}
              onChange={(e) => setUploads((previous) => ({ ...previous, [input.field]: [...(e.currentTarget.files ?? [])] }))}
            />
          </label>
        ))}
        <label>
          Spec (JSON; a chosen file replaces its field)
          <textarea name="spec" rows={16} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <ul class="issues" aria-live="polite">
          {issues.map((issue) => (
            <li class="error" data-field={issue.field}>
              <code>{issue.field}</code>: {issue.reason}
            </li>
          ))}
          {checked && issues.length === 0 && <li class="ok">The spec is valid.</li>}
        </ul>
        <button type="submit" disabled={!checked || issues.length > 0 || state !== undefined}>
          Submit
        </button>
        {state && <span class="muted">{state}</span>}
      </form>
    </section>
  );
}

async function uploadModel(files: File[]): Promise<string> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  return (await api<{ id: string }>('POST', '/v1/artifacts?kind=model', form)).id;
}

const uploadFile = async (kind: string, file: File): Promise<string> =>
  (await api<{ id: string }>('POST', `/v1/artifacts?kind=${kind}&filename=${encodeURIComponent(file.name)}`, file)).id;
