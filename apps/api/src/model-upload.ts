import { InputError, checkWeightBytes, describeModel, type ModelJson } from '@landscape/core';
import { decodeModelBundle, encodeModelBundleYielding } from '@landscape/jobs';
import { z } from 'zod';
import { jsonDepthExceeds } from './security';

/** One part of a multipart upload as multer's memory storage hands it over. */
export interface UploadedPart {
  fieldname: string;
  originalname: string;
  size: number;
  buffer: Buffer;
}

/** Deepest nesting model.json may have (a Keras topology is a few levels; nested models add a few more). */
const MAX_MODEL_JSON_DEPTH = 64;

const layerSchema = z
  .object({ class_name: z.string().min(1), config: z.record(z.unknown()) })
  .passthrough()
  .superRefine((layer, context) => {
    // Layers whose loading needs a setting the generic shape cannot tell: named here, checked before any reader runs.
    if (layer.class_name === 'Reshape') {
      const target = layer.config.target_shape;
      if (!Array.isArray(target) || !target.every((size) => Number.isInteger(size) && (size as number) >= -1))
        context.addIssue({ code: 'custom', path: ['config', 'target_shape'], message: 'Reshape needs target_shape, a list of whole numbers' });
    }
  });

// Keras writes the layer list either as `config` itself or as `config.layers`, and converters may wrap the
// topology in `model_config`: both are normalised first, so an issue's path always names the offending layer.
const asObject = (value: unknown): Record<string, unknown> | undefined =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
const topologySchema = z.preprocess(
  (value) => {
    const topology = asObject(value);
    const inner = topology && 'model_config' in topology ? asObject(topology.model_config) : topology;
    return inner && Array.isArray(inner.config) ? { ...inner, config: { layers: inner.config } } : inner;
  },
  z.object({ class_name: z.string().min(1), config: z.object({ layers: z.array(layerSchema) }).passthrough() }).passthrough(),
);

const weightSchema = z
  .object({
    name: z.string().min(1),
    shape: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1),
      )
      .max(8),
    dtype: z.string().optional(),
  })
  .passthrough();

/**
 * The envelope of a TensorFlow.js Layers model.json, checked structurally before any model reader sees it: a
 * null where a manifest entry belongs, a weight without a name or a shape of "big" is a 400 naming the field.
 */
const modelJsonSchema = z
  .object({
    modelTopology: topologySchema,
    weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)).min(1), weights: z.array(weightSchema) }).passthrough()),
  })
  .passthrough();

function parseModelJson(bytes: Buffer): ModelJson {
  if (jsonDepthExceeds(bytes, MAX_MODEL_JSON_DEPTH)) throw new InputError(`model.json is nested deeper than ${MAX_MODEL_JSON_DEPTH} levels`, 'files');
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InputError(`model.json is not JSON: ${(error as Error).message}`, 'files');
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['model.json', ...issue.path].join('.');
    throw new InputError(`${field}: ${issue.message}`, field);
  }
  // The document as uploaded (not the normalised copy), so the model reader sees what a worker will.
  return raw as ModelJson;
}

/**
 * Checks that a model's files load the way a worker will load them: model.json has the shape of a Layers model
 * and describes a supported one, every weight file its manifest lists is there (and nothing else), and the
 * weight bytes fit the manifest. A broken model is then a 400 at upload time instead of a failed job later.
 * The weight files' buffers are replaced by the checked ones (they go to the check's thread and back).
 */
export async function checkModelFiles(files: Record<string, Buffer>): Promise<void> {
  const json = files['model.json'];
  if (!json) throw new InputError('a model upload needs a part named model.json (plus its weight files)', 'files');
  const modelJson = parseModelJson(json);
  const description = describeModel(modelJson, 'model.json');
  const listed = modelJson.weightsManifest.flatMap((group) => group.paths);
  const missing = listed.filter((name) => !files[name]);
  if (missing.length) throw new InputError(`weight files listed in model.json but not uploaded: ${missing.join(', ')}`, 'files');
  const extra = Object.keys(files).filter((name) => name !== 'model.json' && !listed.includes(name));
  if (extra.length) throw new InputError(`files not listed in model.json's weightsManifest: ${extra.join(', ')}`, 'files');
  // The core's decoder is the rule a worker loads by (float32, int32 and quantized entries, all finite); it runs on
  // a thread, since decoding hundreds of MB here would stall every other request.
  const checked = await checkWeightBytes(
    listed.map((name) => files[name]!),
    description,
    'model.json',
    'files',
  );
  listed.forEach((name, i) => (files[name] = Buffer.from(checked[i]!.buffer, checked[i]!.byteOffset, checked[i]!.byteLength)));
}

/** Multipart parts (one per file, named by their file names) → a validated model bundle. */
export async function modelBundleFromParts(parts: readonly UploadedPart[]): Promise<Buffer> {
  // No prototype: a part named __proto__ must stay an ordinary (and then rejected) file name.
  const files: Record<string, Buffer> = Object.create(null) as Record<string, Buffer>;
  for (const part of parts) {
    if (Object.hasOwn(files, part.originalname)) throw new InputError(`file '${part.originalname}' was uploaded twice`, 'files');
    files[part.originalname] = part.buffer;
  }
  await checkModelFiles(files);
  return await encodeModelBundleYielding(files);
}

/** A model sent as a ready bundle (raw body): decoded and checked like a multipart upload. */
export async function checkModelBundle(bytes: Buffer): Promise<void> {
  await checkModelFiles(decodeModelBundle(bytes));
}
