/**
 * An error caused by what the user asked for (a bad spec, a missing file, weights that do not fit the model).
 * The CLI turns it into exit code 2 and one line on stderr; the API into HTTP 400. `field` is the spec path
 * (e.g. "directions.x.file") when one applies.
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'InputError';
  }
}

export function isInputError(error: unknown): error is InputError {
  return error instanceof Error && error.name === 'InputError';
}
