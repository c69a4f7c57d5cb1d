export { encodeParquet, writeParquetFile, type ParquetWriteOptions } from './writer.js';
export { decodeParquet, describeParquet, readParquetFile, readParquetFilesConcatenated, type ParquetDescription, type ParquetReadOptions } from './reader.js';
