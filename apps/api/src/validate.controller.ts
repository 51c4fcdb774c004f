import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { validateJobSpec, type JobSpec, type SpecIssue } from '@landscape/core';
import { ERROR_RESPONSES, JOB_SPEC_SCHEMA } from './openapi';

/**
 * The spec check of POST /v1/jobs on its own (the web app's submit form asks it as the user types), so a form
 * and the server cannot disagree: both use the one zod schema of @landscape/core. Artifact refs are not looked up.
 */
@ApiTags('jobs')
@ApiBearerAuth()
@ApiResponse(ERROR_RESPONSES.unauthorized)
@Controller('v1/jobs')
export class ValidateController {
  @Post('validate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check a job spec without submitting it: every offending field, or the spec with its defaults' })
  @ApiBody({ schema: JOB_SPEC_SCHEMA })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        valid: { type: 'boolean' },
        issues: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, reason: { type: 'string' } } } },
        spec: { type: 'object', description: 'The spec with every default filled in (when valid).' },
      },
    },
  })
  validate(@Body() body: unknown): { valid: boolean; issues: SpecIssue[]; spec?: JobSpec } {
    const result = validateJobSpec(body);
    return result.ok ? { valid: true, issues: [], spec: result.spec } : { valid: false, issues: result.issues };
  }
}
