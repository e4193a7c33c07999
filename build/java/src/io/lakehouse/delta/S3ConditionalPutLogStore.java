package io.lakehouse.delta;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;

import io.delta.storage.HadoopFileSystemLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSDataOutputStreamBuilder;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A Delta log store for S3 that is safe with several writing drivers, without DynamoDB.
 *
 * <p>Delta commits version N of a table by creating {@code _delta_log/N.json} only if it does
 * not exist. {@code S3SingleDriverLogStore} makes that check inside one JVM (a lock and a
 * cache), so two drivers can both "create" N.json and the later PUT silently replaces the
 * earlier commit. S3 (since August 2024) and MinIO honour a conditional PUT
 * ({@code If-None-Match: *}): the object is created only if absent, atomically on the server.
 * Hadoop 3.5's S3A sends it when a file is created with the option
 * {@code fs.option.create.conditional.overwrite} (and {@code fs.s3a.create.conditional.enabled},
 * true by default). A refused PUT becomes {@link java.nio.file.FileAlreadyExistsException},
 * which Delta treats as a concurrent commit: it re-reads the log, checks for a logical
 * conflict and retries at the next version, as on HDFS. A refusal of our own retried PUT
 * (the first landed, its response was lost) is recognised by content and is a success.
 *
 * <p>A server that ignores {@code If-None-Match} overwrites silently, as the single-driver
 * store does across drivers: use this store only on S3, MinIO or another server with
 * conditional writes. A 409 (S3's ConditionalRequestConflict, two conditional writes at
 * once) fails the commit rather than retrying it.
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
    // The whole file first: nothing is created if the actions fail, and a refused PUT
    // can be compared with what is there.
    byte[] content = render(actions);
    FileSystem fs = path.getFileSystem(hadoopConf);
    if (overwrite) {
      put(fs, path, content, false);
      return;
    }
    try {
      put(fs, path, content, true);
    } catch (IOException e) {
      if (!isRefusedAsExisting(e)) {
        throw e;
      }
      // S3A and the SDK retry a PUT whose response was lost; the retry of a PUT that
      // had landed is refused. Our own bytes there are our commit, not another's.
      if (sameContent(fs, path, content)) {
        return;
      }
      java.nio.file.FileAlreadyExistsException out =
          new java.nio.file.FileAlreadyExistsException(path.toString());
      out.initCause(e);
      throw out;
    }
  }

  private static byte[] render(Iterator<String> actions) {
    StringBuilder text = new StringBuilder();
    while (actions.hasNext()) {
      text.append(actions.next()).append('\n');
    }
    return text.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void put(FileSystem fs, Path path, byte[] content, boolean ifAbsent)
      throws IOException {
    FSDataOutputStreamBuilder<?, ?> builder = fs.createFile(path).overwrite(!ifAbsent);
    if (ifAbsent) {
      builder.must(CONDITIONAL_OVERWRITE, true);
    }
    FSDataOutputStream out = builder.build();
    try {
      out.write(content);
    } catch (IOException | RuntimeException e) {
      out.abort(); // drop the upload buffer; nothing is PUT
      throw e;
    }
    out.close(); // the PUT: conditional when ifAbsent, refused if the file exists
  }

  private static boolean sameContent(FileSystem fs, Path path, byte[] content) {
    try (FSDataInputStream in = fs.open(path)) {
      byte[] there = in.readAllBytes();
      return Arrays.equals(there, content);
    } catch (IOException e) {
      return false; // cannot tell: report the conflict, Delta re-reads the log
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

  @Override
  public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
    return false; // an S3 PUT is all or nothing
  }
}
