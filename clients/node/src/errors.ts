// JambaError: a failed jambad call with its gRPC status code kept (`.code`) and the
// google.rpc details jambad sends decoded (ErrorInfo reason, bad fields, resource, retry delay).
import * as grpc from '@grpc/grpc-js';
import { errorProtos } from './protos';
import type { BadRequest__Output } from './generated/google/rpc/BadRequest';
import type { ErrorInfo__Output } from './generated/google/rpc/ErrorInfo';
import type { QuotaFailure__Output } from './generated/google/rpc/QuotaFailure';
import type { ResourceInfo__Output } from './generated/google/rpc/ResourceInfo';
import type { RetryInfo__Output } from './generated/google/rpc/RetryInfo';

/** One decoded google.rpc detail: its full type name and its fields (camelCase). */
export interface ErrorDetail {
  type: string;
  value: Record<string, unknown>;
}

const DETAILS_KEY = 'grpc-status-details-bin';

/** The canonical name of a gRPC status code: 5 -> "NOT_FOUND". */
export function codeName(code: grpc.status): string {
  return grpc.status[code] ?? `CODE_${code}`;
}

/**
 * A jambad call that ended with a status other than OK. Match on `code` (a `grpc.status`) and
 * `reason` (the stable ErrorInfo.reason), never on the message.
 */
export class JambaError extends Error {
  override readonly name = 'JambaError';
  /** The gRPC status code, e.g. `grpc.status.NOT_FOUND`. */
  readonly code: grpc.status;
  /** The status message, for people. */
  readonly details: string;
  /** The call's trailing metadata. */
  readonly metadata: grpc.Metadata;
  /** The decoded google.rpc details; empty for errors made by gRPC itself. */
  readonly errorDetails: ErrorDetail[];

  constructor(code: grpc.status, details: string, metadata = new grpc.Metadata(), cause?: unknown) {
    const errorDetails = decodeDetails(metadata);
    const info = errorDetails.find((d) => d.type === 'google.rpc.ErrorInfo');
    const reason = info ? ` (${String(info.value.reason)})` : '';
    super(`${codeName(code)}${reason}: ${details}`, { cause });
    this.code = code;
    this.details = details;
    this.metadata = metadata;
    this.errorDetails = errorDetails;
  }

  /** Converts a grpc-js error (a ServiceError) to a JambaError; other values are returned as is. */
  static from(error: unknown): unknown {
    if (error instanceof JambaError) {
      return error;
    }
    if (isServiceError(error)) {
      return new JambaError(error.code, error.details, error.metadata, error);
    }
    return error;
  }

  /** The canonical code name: "NOT_FOUND", "INVALID_ARGUMENT", ... */
  get codeName(): string {
    return codeName(this.code);
  }

  private detail<T>(type: string): T | undefined {
    return this.errorDetails.find((d) => d.type === type)?.value as T | undefined;
  }

  get errorInfo(): ErrorInfo__Output | undefined {
    return this.detail<ErrorInfo__Output>('google.rpc.ErrorInfo');
  }

  /** ErrorInfo.reason ("SESSION_NOT_FOUND", "ETAG_MISMATCH", ...), or "" when there is none. */
  get reason(): string {
    return this.errorInfo?.reason ?? '';
  }

  /** The bad fields of an INVALID_ARGUMENT error. */
  get badRequest(): BadRequest__Output | undefined {
    return this.detail<BadRequest__Output>('google.rpc.BadRequest');
  }

  /** The session or checkpoint the error is about. */
  get resourceInfo(): ResourceInfo__Output | undefined {
    return this.detail<ResourceInfo__Output>('google.rpc.ResourceInfo');
  }

  /** How long to wait before retrying (a full queue, a draining server). */
  get retryInfo(): RetryInfo__Output | undefined {
    return this.detail<RetryInfo__Output>('google.rpc.RetryInfo');
  }

  get quotaFailure(): QuotaFailure__Output | undefined {
    return this.detail<QuotaFailure__Output>('google.rpc.QuotaFailure');
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<grpc.ServiceError>).code === 'number' &&
    (error as Partial<grpc.ServiceError>).metadata instanceof grpc.Metadata
  );
}

const CONVERSION = { longs: String, enums: String, defaults: true, arrays: true, objects: true };

/** Decodes the google.rpc.Status in the trailers, skipping details of unknown types. */
function decodeDetails(metadata: grpc.Metadata): ErrorDetail[] {
  const raw = metadata.get(DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) {
    return [];
  }
  try {
    const root = errorProtos();
    const status = root.lookupType('google.rpc.Status').decode(raw) as unknown as {
      // protobufjs's bundled google/protobuf/any.proto keeps the field's case: type_url.
      details: { type_url: string; value: Uint8Array }[];
    };
    const details: ErrorDetail[] = [];
    for (const any of status.details) {
      const type = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
      try {
        const decoder = root.lookupType(type);
        details.push({
          type,
          value: decoder.toObject(decoder.decode(any.value), CONVERSION) as Record<string, unknown>,
        });
      } catch {
        // A detail type this client does not know: leave it out.
      }
    }
    return details;
  } catch {
    return []; // malformed details: the code and message still stand
  }
}
