import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  PayloadTooLargeException,
  Post,
  Query,
  Req,
  Res,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { AnyFilesInterceptor } from '@nestjs/platform-express';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ARTIFACT_KINDS, hexOf, type ArtifactInfo, type ArtifactStore } from '@landscape/jobs';
import { Caller, type Principal } from './auth';
import type { ApiSettings } from './config';
import { checkModelBundle, modelBundleFromParts, type UploadedPart } from './model-upload';
import { ARTIFACT_SCHEMA, ERROR_RESPONSES } from './openapi';
import { badParameter, checkArtifactId, queryEnum } from './params';
import { API_SETTINGS, ARTIFACT_STORE } from './tokens';
import { sendFile, sendJson } from './respond';

export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\//i.test(req.headers['content-type'] ?? '');
}

@ApiTags('artifacts')
@ApiBearerAuth()
@ApiResponse(ERROR_RESPONSES.unauthorized)
@Controller('v1/artifacts')
export class ArtifactsController {
  constructor(
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
    @Inject(API_SETTINGS) private readonly settings: Required<ApiSettings>,
  ) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(AnyFilesInterceptor())
  @ApiOperation({
    summary: 'Upload a model, a dataset, a weight set or a trajectory',
    description: [
      'Two body formats:',
      '* raw bytes (any content type but multipart) with `?kind=data|weights|trajectory&filename=name.ext`, e.g.',
      '  `curl --data-binary @d.json -H "content-type: application/octet-stream" "$API/v1/artifacts?kind=data&filename=d.json"`;',
      "  the file name's extension tells loaders the format (`.csv` or `.json`). `kind=model` with a raw body takes a model bundle.",
      '* multipart/form-data with one part per file, named by its file name (any field name). For `kind=model`: model.json and',
      '  every weight file its manifest lists, e.g. `curl -F files=@m/model.json -F files=@m/weights.bin "$API/v1/artifacts?kind=model"`.',
      '  For other kinds: exactly one file part.',
      'The id is the SHA-256 of the stored bytes: uploading the same content again returns the same id. The bytes are stored once;',
      'kind and file name are kept per uploader (each key sees its own).',
    ].join('\n'),
  })
  @ApiConsumes('application/octet-stream', 'multipart/form-data')
  @ApiQuery({ name: 'kind', enum: ARTIFACT_KINDS })
  @ApiQuery({ name: 'filename', required: false, description: 'original file name (raw uploads)' })
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 201, description: 'Stored (or already there).', schema: ARTIFACT_SCHEMA })
  @ApiResponse(ERROR_RESPONSES.badRequest)
  @ApiResponse(ERROR_RESPONSES.tooLarge)
  async upload(
    @Caller() caller: Principal,
    @Req() req: IncomingMessage & { body?: unknown },
    @Res({ passthrough: true }) res: ServerResponse,
    @Query('kind') rawKind: unknown,
    @Query('filename') rawFilename: unknown,
    @UploadedFiles() parts: UploadedPart[] | undefined,
  ): Promise<ArtifactInfo> {
    const kind = queryEnum(rawKind, 'kind', ARTIFACT_KINDS);
    if (!kind) throw badParameter('kind', `is required: one of ${ARTIFACT_KINDS.join(', ')}`);
    if (rawFilename !== undefined && (typeof rawFilename !== 'string' || rawFilename.length > 200))
      throw badParameter('filename', 'must be one file name of at most 200 characters');
    let filename = rawFilename as string | undefined;
    let bytes: Buffer;
    if (isMultipart(req)) {
      const files = parts ?? [];
      // multer limits each part; the parts of one model together get the same limit.
      const total = files.reduce((sum, part) => sum + part.size, 0);
      if (total > this.settings.maxArtifactBytes)
        throw new PayloadTooLargeException(`upload of ${total} bytes exceeds the limit of ${this.settings.maxArtifactBytes} bytes`);
      if (kind === 'model') {
        bytes = await modelBundleFromParts(files);
      } else {
        if (files.length !== 1) throw badParameter('files', `a ${kind} upload takes exactly one file part (got ${files.length})`);
        bytes = files[0]!.buffer;
        filename ??= files[0]!.originalname;
      }
    } else {
      if (!Buffer.isBuffer(req.body) || req.body.length === 0)
        throw badParameter('(body)', 'is empty: send the file as the request body (or as multipart/form-data)');
      bytes = req.body;
      if (kind === 'model') await checkModelBundle(bytes);
    }
    const info = await this.artifacts.put(bytes, { kind, ...(filename ? { filename } : {}) }, caller.owner);
    res.setHeader('location', `/v1/artifacts/${info.id}`);
    return info;
  }

  @Get(':id')
  @ApiOperation({ summary: 'Metadata of an artifact; with ?download=1 its bytes (a model comes as its bundle)' })
  @ApiParam({ name: 'id', example: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' })
  @ApiQuery({ name: 'download', required: false, enum: ['0', '1'] })
  @ApiOkResponse({ schema: ARTIFACT_SCHEMA })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async get(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Query('download') download: unknown,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const wantBytes = queryEnum(download, 'download', ['0', '1', 'true', 'false']);
    const info = await this.visible(caller, checkArtifactId(id));
    if (wantBytes !== '1' && wantBytes !== 'true') return sendJson(res, info);
    const bytes = await this.artifacts.get(id);
    if (!bytes) throw new NotFoundException(`no artifact ${id}`);
    const name = info.filename ?? `${info.kind}-${id.slice(7, 19)}${info.kind === 'model' ? '.bundle.json' : ''}`;
    sendFile(
      req,
      res,
      { bytes, contentType: 'application/octet-stream', sha256: hexOf(id) },
      { 'content-disposition': `attachment; filename="${name.replace(/[^\w.+-]/g, '_')}"` },
    );
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: "Delete the caller's upload of an artifact (the bytes go with the last upload); admins delete every upload" })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 204, description: 'Deleted.' })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async remove(@Caller() caller: Principal, @Param('id') id: string): Promise<void> {
    if (!(await this.artifacts.remove(checkArtifactId(id), caller.admin ? undefined : caller.owner))) throw new NotFoundException(`no artifact ${id}`);
  }

  /** The caller's upload of an artifact (anyone's, for admins); 404 otherwise, as if it did not exist. */
  private async visible(caller: Principal, id: string): Promise<ArtifactInfo> {
    const info = await this.artifacts.info(id, caller.admin ? undefined : caller.owner);
    if (!info) throw new NotFoundException(`no artifact ${id}`);
    return info;
  }
}
