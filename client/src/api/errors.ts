import type { CodedMessage } from './types';

/**
 * Every failed request rejects with this: an HTTP error carrying the server's `{error}` body,
 * or a network failure (status 0). Components show `message`; callers branch on `code`.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, body: CodedMessage) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
  }

  get isUnauthorized(): boolean {
    return this.status === 401;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }

  /** `validation.url` → `url`; undefined for other codes. */
  get field(): string | undefined {
    return this.code.startsWith('validation.') ? this.code.slice('validation.'.length) : undefined;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** A human sentence for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

function isCodedMessage(v: unknown): v is CodedMessage {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { code?: unknown }).code === 'string' &&
    typeof (v as { message?: unknown }).message === 'string'
  );
}

/** Reads `{error:{code,message}}`; falls back to the status line when the body is not ours. */
export function parseErrorBody(status: number, statusText: string, body: unknown): CodedMessage {
  if (typeof body === 'object' && body !== null) {
    const inner = (body as { error?: unknown }).error;
    if (isCodedMessage(inner)) return inner;
  }
  return {
    code: status === 404 ? 'not_found' : `http.${status}`,
    message: `The server answered ${status}${statusText ? ` ${statusText}` : ''}.`,
  };
}
