import { readFileSync, writeFileSync } from 'node:fs';
import type * as ZodToJsonSchema from 'zod-to-json-schema';
import { specKinds } from './job-kinds';
import { jobSpecSchema } from './spec';

/**
 * The job spec as an OpenAPI 3.0 schema object and as the field reference of docs/job-spec.md, both generated
 * from the one zod schema (spec.ts), so neither can drift from what the server accepts. Cross-field rules
 * (e.g. min < max of an axis) stay zod's: the generated schema accepts a superset.
 */
type SchemaNode = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  anyOf?: SchemaNode[];
  items?: SchemaNode | SchemaNode[];
  enum?: unknown[];
  default?: unknown;
};

/** Loaded on use: only the API's OpenAPI document and `npm run docs` need it (~20 ms of every process's start-up). */
function zodToJsonSchema(...args: Parameters<typeof ZodToJsonSchema.zodToJsonSchema>): ReturnType<typeof ZodToJsonSchema.zodToJsonSchema> {
  return (require('zod-to-json-schema') as typeof ZodToJsonSchema).zodToJsonSchema(...args);
}

/** OpenAPI 3.0 has no tuples: `[min, max, steps]` becomes an array of exactly 3 items of the items' types. */
function openApi3(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openApi3);
  if (!node || typeof node !== 'object') return node;
  const entries = Object.entries(node as SchemaNode).map(([key, value]) => [key, openApi3(value)] as const);
  const out = Object.fromEntries(entries) as SchemaNode;
  if (Array.isArray(out.items)) {
    const distinct = [...new Map(out.items.map((item) => [JSON.stringify(item), item])).values()];
    out.items = distinct.length === 1 ? distinct[0]! : { anyOf: distinct };
  }
  return out;
}

/** The job spec schema (one alternative per kind), as OpenAPI 3.0 documents take it. */
export function jobSpecOpenApiSchema(): SchemaNode {
  const { $schema: _draft, ...schema } = zodToJsonSchema(jobSpecSchema, { target: 'openApi3', $refStrategy: 'none' }) as SchemaNode;
  return { ...(openApi3(schema) as SchemaNode), description: 'A job spec (docs/job-spec.md), one alternative per kind; generated from the zod schema.' };
}

function typeOf(node: SchemaNode): string {
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (node.anyOf) return node.anyOf.map(typeOf).join(' \\| ');
  if (node.type === 'array') return Array.isArray(node.items) ? `[${node.items.map(typeOf).join(', ')}]` : `${typeOf(node.items ?? {})}[]`;
  if (node.type === 'object') return node.properties ? `{${Object.keys(node.properties).join(', ')}}` : 'object';
  return node.type ?? 'any';
}

function limits(node: SchemaNode): string {
  const parts: string[] = [];
  const bound = (key: string, text: string): void => void (node[key] !== undefined && parts.push(`${text} ${String(node[key])}`));
  bound('minimum', '≥');
  bound('exclusiveMinimum', '>');
  bound('maximum', '≤');
  bound('exclusiveMaximum', '<');
  bound('minLength', 'length ≥');
  bound('maxLength', 'length ≤');
  bound('minItems', 'items ≥');
  bound('maxItems', 'items ≤');
  return parts.join(', ');
}

/** Rows of one object's fields, nested objects flattened to dotted paths (unions of objects stay one row). */
function rows(node: SchemaNode, prefix: string): string[] {
  const required = new Set(node.required ?? []);
  return Object.entries(node.properties ?? {}).flatMap(([name, field]) => {
    const path = `${prefix}${name}`;
    const value = field.default === undefined ? (required.has(name) ? 'required' : '–') : `\`${JSON.stringify(field.default)}\``;
    const row = `| \`${path}\` | ${typeOf(field)} | ${value} | ${limits(field)} |`;
    return field.type === 'object' && field.properties ? [row, ...rows(field, `${path}.`)] : [row];
  });
}

export const SPEC_REFERENCE_START = '<!-- generated from libs/landscape/src/spec.ts: npm run docs -->';
export const SPEC_REFERENCE_END = '<!-- end of generated reference -->';

/** The field reference of every kind, in markdown. */
export function jobSpecReference(): string {
  const alternatives = (zodToJsonSchema(jobSpecSchema, { target: 'jsonSchema7', $refStrategy: 'none' }) as SchemaNode).anyOf!;
  const sections = specKinds().map((kind, i) =>
    [`### \`${kind}\``, '', '| field | type | default | limits |', '|---|---|---|---|', ...rows(alternatives[i]!, '')].join('\n'),
  );
  return [SPEC_REFERENCE_START, '', ...sections.flatMap((section) => [section, '']), SPEC_REFERENCE_END].join('\n');
}

/** The document with its generated section replaced by the current one. */
export function withSpecReference(document: string): string {
  const start = document.indexOf(SPEC_REFERENCE_START);
  const end = document.indexOf(SPEC_REFERENCE_END);
  if (start < 0 || end < start) throw new Error('the document has no generated spec reference section');
  return document.slice(0, start) + jobSpecReference() + document.slice(end + SPEC_REFERENCE_END.length);
}

/** `node libs/landscape/dist/spec-schema.js docs/job-spec.md` rewrites the generated section in place. */
if (require.main === module) {
  const path = process.argv[2]!;
  writeFileSync(path, withSpecReference(readFileSync(path, 'utf8')));
}
