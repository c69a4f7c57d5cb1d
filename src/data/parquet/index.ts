export { encodeParquet, writeParquetFile, writeParquetStream, type ParquetWriteOptions } from './writer.js';
export { decodeParquet, describeParquet, readParquetFile, readParquetFilesConcatenated, type ParquetDescription, type ParquetReadOptions } from './reader.js';
