/** What `ArtifactStore.put` stored. */
export interface StoredArtifact {
  /** lowercase hex sha256 of the content: the artifact's address */
  sha256: string;
  sizeBytes: number;
}

/**
 * Content-addressed blob storage for model files and reference data. Blobs are immutable and
 * addressed by their sha256, so storing the same bytes twice stores them once.
 *
 * @example
 * const { sha256 } = await artifacts.put('model.onnx');
 * const bytes = await artifacts.read(sha256); // verified against sha256
 */
export interface ArtifactStore {
  /** Copy a file in (atomically and durably); identical content is a no-op. */
  put(srcPath: string): Promise<StoredArtifact>;
  has(sha256: string): Promise<boolean>;
  /** Local filesystem path of the blob (remote stores: of their local cache copy). */
  path(sha256: string): string;
  /** The blob's bytes, verified: throws ARTIFACT_CORRUPTED when they no longer hash to `sha256`. */
  read(sha256: string): Promise<Buffer>;
}
