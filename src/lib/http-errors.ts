// The one error handler of every fastify server: routes throw catalog errors, and this turns
// them into `{ code, message }` with the catalog's HTTP status. fastify's own request errors
// (unparseable JSON, a body over the limit, a wrong content type) become coded 4xx; anything
// else is a 500 BWK_ERR_INTERNAL whose cause is logged, never sent.
import { LogController, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { BulwarkError, isBulwarkError, type BulwarkErrorCode } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * fastify's logging options for every Bulwark server: the component's child logger, and no line
 * per request (one per produce would be most of the log); errors are logged by the handler below.
 */
export function fastifyLogging(logger: Logger): { loggerInstance: Logger; logController: LogController } {
  return { loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) };
}

/** The body of every error reply. */
export interface ErrorBody {
  code: BulwarkErrorCode;
  message: string;
}

/**
 * What a client may learn about fastify's own errors. Their messages are not sent: Node's
 * JSON.parse quotes the start of the body, which may be a password.
 */
const FASTIFY_REQUEST_ERRORS: Record<string, BulwarkError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: new BulwarkError('BWK_ERR_HTTP_BODY_TOO_LARGE'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'unsupported content type' }),
  FST_ERR_CTP_EMPTY_JSON_BODY: new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'the JSON body is empty' }),
  FST_ERR_CTP_INVALID_JSON_BODY: new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'the body is not valid JSON' }),
};

/** The catalog error a thrown value becomes on the wire, and whether it was expected. */
export function httpErrorOf(err: unknown): { error: BulwarkError; expected: boolean } {
  if (isBulwarkError(err)) return { error: err, expected: true };
  const e = err as Partial<FastifyError> | undefined;
  if (e?.validation) return { error: new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: `${e.validationContext ?? 'request'} does not match its schema` }), expected: true };
  const known = e?.code !== undefined ? FASTIFY_REQUEST_ERRORS[e.code] : undefined;
  if (known) return { error: known, expected: true };
  // fastify's content-type parser reports a JSON syntax error as a plain 400.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { error: new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: e.statusCode === 400 ? 'the request is malformed' : `the request is refused (HTTP ${e.statusCode})` }), expected: true };
  }
  return { error: new BulwarkError('BWK_ERR_INTERNAL'), expected: false };
}

/**
 * fastify's setErrorHandler for every Bulwark server. An unexpected error is logged at error
 * level with the request id and route (never the body, the query or the headers); a catalog
 * error at debug level.
 */
export function bulwarkErrorHandler(logger: Logger): (err: unknown, req: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (err, req, reply) => {
    const { error, expected } = httpErrorOf(err);
    const where = { reqId: req.id, method: req.method, route: req.routeOptions?.url, status: error.status };
    if (expected) logger.debug({ ...where, code: error.code }, 'request refused');
    else logger.error({ ...where, err }, 'request failed');
    if (error.code === 'BWK_ERR_UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer realm="bulwark"');
    return reply.code(error.status).send({ code: error.code, message: error.message } satisfies ErrorBody);
  };
}
