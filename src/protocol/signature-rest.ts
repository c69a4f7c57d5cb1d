import type { FastifyInstance, FastifyReply } from 'fastify';
import { assertName, type Logger } from '../core/index.js';
import type { ArtifactGuard } from '../security/index.js';
import { sendError } from './http-errors.js';
import { actorOf } from './management-rest.js';
import { parseVersion } from './v2-rest.js';

export interface SignatureRestOptions {
  /** the server's trusted keys over its registry */
  guard: ArtifactGuard;
  logger: Logger;
}

type VersionP = { Params: { name: string; version: string } };

/**
 * Artifact signatures over HTTP. `POST` stores a signature that `berth sign` made on the client
 * (the private key never travels: the body carries the signature and the signer's public key,
 * and the signature is checked before it is stored); `GET` lists a version's signatures with
 * whether each verifies against the server's trusted keys.
 *
 * @example
 * // curl -X POST localhost:8080/v1/models/fraud/versions/3/signatures \
 * //   -d '{"algorithm": "ed25519", "signature": "<base64>", "publicKey": "-----BEGIN PUBLIC KEY-----\n…"}'
 * // curl localhost:8080/v1/models/fraud/versions/3/signatures
 */
export function registerSignatureRoutes(app: FastifyInstance, opts: SignatureRestOptions): void {
  const { guard, logger } = opts;
  const json = (reply: FastifyReply, status: number, out: unknown): FastifyReply =>
    reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(out));

  app.post<VersionP>('/v1/models/:name/versions/:version/signatures', async (req, reply) => {
    try {
      const out = await guard.add(assertName('model', req.params.name), parseVersion(req.params.version), req.body, actorOf(req));
      return json(reply, out.created ? 201 : 200, out);
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });
  app.get<VersionP>('/v1/models/:name/versions/:version/signatures', async (req, reply) => {
    try {
      return json(reply, 200, await guard.report(assertName('model', req.params.name), parseVersion(req.params.version)));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  });
}
