package io.lakehouse.delta;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;

import io.delta.storage.HadoopFileSystemLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A Delta log store for S3 that is safe with several writing drivers, without DynamoDB.
 *
 * <p>Delta commits version N of a table by creating {@code _delta_log/N.json} only if it does
 * not exist. {@code S3SingleDriverLogStore} makes that check inside one JVM (a lock and a
 * cache), so two drivers can both "create" N.json and the later PUT silently replaces the
 * earlier commit. S3 (since August 2024), MinIO and moto honour a conditional PUT
 * ({@code If-None-Match: *}): the object is created only if absent, atomically on the server.
 * Hadoop 3.5's S3A sends it when a file is created with the option
 * {@code fs.option.create.conditional.overwrite} (and {@code fs.s3a.create.conditional.enabled},
 * true by default). A refused PUT becomes {@link java.nio.file.FileAlreadyExistsException},
 * which Delta treats as a concurrent commit: it re-reads the log, checks for a logical
 * conflict and retries at the next version, as on HDFS.
 *
 * <p>Listing is S3's own (strongly consistent since December 2020), as in the base class.
 * Configured per scheme: {@code spark.delta.logStore.s3a.impl=io.lakehouse.delta.S3ConditionalPutLogStore}.
 */
public class S3ConditionalPutLogStore extends HadoopFileSystemLogStore {

  /** The S3A create option that turns a PUT into put-if-absent (Hadoop 3.5). */
  static final String CONDITIONAL_OVERWRITE = "fs.option.create.conditional.overwrite";

  public S3ConditionalPutLogStore(Configuration hadoopConf) {
    super(hadoopConf);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
      throws IOException {
    FileSystem fs = path.getFileSystem(hadoopConf);
    if (overwrite) {
      try (FSDataOutputStream out = (FSDataOutputStream) fs.createFile(path).overwrite(true).build()) {
        writeLines(out, actions);
      }
      return;
    }
    FSDataOutputStream out;
    try {
      out = (FSDataOutputStream) fs.createFile(path).overwrite(false).must(CONDITIONAL_OVERWRITE, true).build();
    } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
      throw alreadyExists(path, e);
    }
    try {
      writeLines(out, actions);
      out.close(); // the PUT, conditional: refused if another driver created the file first
    } catch (IOException e) {
      if (isRefusedAsExisting(e)) {
        throw alreadyExists(path, e);
      }
      throw e;
    }
  }

  private static void writeLines(FSDataOutputStream out, Iterator<String> actions)
      throws IOException {
    while (actions.hasNext()) {
      out.write((actions.next() + "\n").getBytes(StandardCharsets.UTF_8));
    }
  }

  /** S3A reports a refused conditional PUT (HTTP 412) as one of these. */
  static boolean isRefusedAsExisting(IOException e) {
    if (e instanceof InterruptedIOException) {
      return false;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof org.apache.hadoop.fs.FileAlreadyExistsException
          || t instanceof java.nio.file.FileAlreadyExistsException
          || t.getClass().getSimpleName().equals("RemoteFileChangedException")) {
        return true;
      }
    }
    return false;
  }

  private static java.nio.file.FileAlreadyExistsException alreadyExists(Path path, Throwable e) {
    java.nio.file.FileAlreadyExistsException out =
        new java.nio.file.FileAlreadyExistsException(path.toString());
    out.initCause(e);
    return out;
  }

  @Override
  public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
    return false; // an S3 PUT is all or nothing
  }
}
