// Loads the jamba.v1 and google.rpc protos at run time with @grpc/proto-loader (for the gRPC
// stubs) and protobufjs (to decode the google.rpc.Status details of errors).
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import type { ProtoGrpcType as GenerationProto } from './generated/generation_service';
import type { ProtoGrpcType as ModelProto } from './generated/model_service';
import type { ProtoGrpcType as SessionProto } from './generated/session_service';

/** The package's copy of the repository's proto/ (made by `npm run generate`). */
export const PROTO_DIR = path.join(__dirname, '..', '..', 'proto');

const SERVICE_FILES = [
  'jamba/v1/generation_service.proto',
  'jamba/v1/model_service.proto',
  'jamba/v1/session_service.proto',
];

/** The options proto-loader-gen-types was run with (package.json "generate"), so types match. */
const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export type JambaProto = GenerationProto & ModelProto & SessionProto;

let services: JambaProto | undefined;

/** The jamba.v1 service constructors, loaded once. */
export function jambaProto(): JambaProto {
  if (services === undefined) {
    const definition = protoLoader.loadSync(SERVICE_FILES, LOADER_OPTIONS);
    services = grpc.loadPackageDefinition(definition) as unknown as JambaProto;
  }
  return services;
}

let errorRoot: protobuf.Root | undefined;

/** google.rpc.Status and the error details, for decoding `grpc-status-details-bin`. */
export function errorProtos(): protobuf.Root {
  if (errorRoot === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin: string, target: string) =>
      target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
    errorRoot = root;
  }
  return errorRoot;
}
