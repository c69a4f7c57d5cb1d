import { BerthError } from '../core/index.js';
import { DEV_PRINCIPAL, grantsOf, type Principal } from './principal.js';
import { sameSecret, TokenService } from './tokens.js';

/** Checks a bearer token that is not a Berth API token (an OIDC issuer's JWT). */
export interface BearerVerifier {
  verify(token: string): Principal | Promise<Principal>;
}

/** A client certificate that chained to the configured CA. */
export interface PeerCertificate {
  commonName: string;
  fingerprint256: string;
}

/**
 * A verified TLS peer certificate (Node's shape, from HTTPS or gRPC) as the authenticator reads it;
 * null when it names no single client: a subject with several CNs (Node gives an array) is
 * ambiguous, so it is not trusted for any of them.
 */
export function peerCertificateFrom(cert: { subject?: { CN?: unknown }; fingerprint256?: unknown } | null | undefined): PeerCertificate | null {
  const cn: unknown = cert?.subject?.CN;
  if (typeof cn !== 'string' || cn.length === 0 || typeof cert?.fingerprint256 !== 'string') return null;
  return { commonName: cn, fingerprint256: cert.fingerprint256 };
}

export interface AuthenticatorOptions {
  /** no authentication: every request is the dev principal */
  dev: boolean;
  tokens: TokenService | null;
  /** the bootstrap admin secret (BERTH_ADMIN_TOKEN or its file) */
  bootstrapSecret: string | null;
  jwt: BearerVerifier | null;
  /** what client certificates may do, by common name */
  certificates: readonly { commonName: string; roles?: readonly string[]; scopes?: readonly string[] }[];
}

const BOOTSTRAP: Principal = { kind: 'bootstrap', id: 'bootstrap-admin', name: 'bootstrap-admin', scopes: [{ verb: 'admin', resource: '*' }], expiresAt: null };

/**
 * Turns a request's credentials into a principal: `Authorization: Bearer <berth token | bootstrap
 * admin secret | JWT>`, else a verified client certificate. Synchronous when the answer is cached
 * (every repeat caller), a promise otherwise. UNAUTHENTICATED when nothing valid was presented.
 */
export class Authenticator {
  readonly dev: boolean;
  private readonly certs = new Map<string, Principal>();

  constructor(private readonly opts: AuthenticatorOptions) {
    this.dev = opts.dev;
    for (const c of opts.certificates) {
      this.certs.set(c.commonName, {
        kind: 'certificate',
        id: `cn=${c.commonName}`,
        name: `certificate:${c.commonName}`,
        scopes: grantsOf({ roles: c.roles ?? [], scopes: c.scopes ?? [] }, `tls.clients[${c.commonName}].scopes`),
        expiresAt: null,
      });
    }
  }

  /** Whether any way to authenticate is configured (a server without one refuses to start unless dev). */
  get configured(): boolean {
    return this.opts.bootstrapSecret !== null || this.opts.jwt !== null || this.certs.size > 0;
  }

  authenticate(authorization: string | undefined, cert: PeerCertificate | null): Principal | Promise<Principal> {
    if (this.dev) return DEV_PRINCIPAL;
    if (authorization !== undefined && authorization !== '') {
      const bearer = bearerOf(authorization);
      if (TokenService.looksLikeToken(bearer)) {
        if (this.opts.tokens) return this.opts.tokens.verify(bearer);
      } else if (this.opts.bootstrapSecret !== null && sameSecret(bearer, this.opts.bootstrapSecret)) {
        return BOOTSTRAP;
      } else if (this.opts.jwt !== null && bearer.split('.').length === 3) {
        return this.opts.jwt.verify(bearer);
      }
      throw new BerthError(
        'UNAUTHENTICATED',
        this.opts.jwt !== null
          ? 'the bearer token is not valid (neither a Berth API token, the admin token, nor a JWT from the configured issuer)'
          : 'the bearer token is not valid; send a token made with `berth tokens create` (or the admin token)',
      );
    }
    if (cert !== null) {
      const p = this.certs.get(cert.commonName);
      if (p) return p;
      // a certificate the CA vouches for but that is not mapped to any scope: known, and allowed nothing
      return { kind: 'certificate', id: `cn=${cert.commonName}`, name: `certificate:${cert.commonName}`, scopes: [], expiresAt: null };
    }
    throw new BerthError('UNAUTHENTICATED', 'this route needs credentials: send `Authorization: Bearer <token>` (make one with `berth tokens create`; the CLI takes --token or BERTH_TOKEN)');
  }
}

function bearerOf(header: string): string {
  // `Bearer <token>`, scheme case-insensitive; anything else is refused without echoing it
  if (header.length > 7 && (header.startsWith('Bearer ') || header.slice(0, 7).toLowerCase() === 'bearer ')) return header.slice(7).trim();
  throw new BerthError('UNAUTHENTICATED', 'the Authorization header must be `Bearer <token>`');
}
