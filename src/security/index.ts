export * from './principal.js';
export { Authenticator, peerCertificateFrom, type AuthenticatorOptions, type BearerVerifier, type PeerCertificate } from './authenticator.js';
export { TokenService, TOKEN_PREFIX, checkSecret, hashSecret, sameSecret, tokenView, type CreateTokenInput, type TokenServiceOptions, type TokenView } from './tokens.js';
export {
  ARTIFACT_SIGNATURE_ALGORITHMS,
  ARTIFACT_STATEMENT_PREFIX,
  algorithmOf,
  artifactStatement,
  isArtifactSignatureAlgorithm,
  keyIdOf,
  parsePublicKeyPem,
  readPrivateKeyFile,
  readPublicKeyFile,
  signArtifact,
  verifyArtifactSignature,
  type ArtifactSignatureAlgorithm,
  type ArtifactSignatureInput,
} from './artifact-signing.js';
export {
  ArtifactGuard,
  ArtifactTrust,
  type DeployTrustInput,
  type SignatureCheck,
  type SignatureReport,
  type SignatureUpload,
  type SignatureUploadResult,
  type TrustedKey,
} from './artifact-trust.js';
export { JwtVerifier, JWT_ALGORITHMS, JWT_SCOPE_PREFIX, createJwtVerifier, type JwtVerifierOptions } from './jwt.js';
export { LocalRateLimiter, RedisRateLimiter, rateLimitedError, retryAfterSeconds, type RateLimiter, type LocalRateLimiterOptions, type RedisRateLimiterOptions } from './rate-limit.js';
export {
  DEFAULT_EXTRACTION_THRESHOLDS,
  EXTRACTION_SIGNALS,
  ExtractionDetector,
  referenceFeaturesFromProfile,
  type BoundarySignal,
  type CoverageSignal,
  type ExtractionDetectorOptions,
  type ExtractionFinding,
  type ExtractionSignalName,
  type ExtractionThresholds,
  type FeatureReference,
  type ReferenceSource,
  type VolumeSignal,
} from './extraction.js';
