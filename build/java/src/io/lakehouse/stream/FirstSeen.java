package io.lakehouse.stream;

import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.FlatMapGroupsWithStateFunction;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.GroupState;
import org.apache.spark.sql.streaming.GroupStateTimeout;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Event-id deduplication in Spark's state store that marks rows instead of dropping them.
 *
 * <p>{@link #mark} adds a boolean column {@code first_seen} to a streaming Dataset of
 * messages with Kafka's {@code partition} and {@code offset}, an id column and an event
 * time column: true for the earliest message (lowest partition, then offset) of an id the
 * query does not remember, false for every other message of that id, null for rows whose
 * id is null (messages the job rejects, which keep no state). Every input row comes out
 * once, so a job still counts what it read, wrote and found duplicated.
 *
 * <p>An id is remembered until the query's event-time watermark (the caller's {@code
 * withWatermark} on the time column) passes its event time: after that a redelivery of
 * the event is late anyway. The watermark is checked on a processing-time timeout every
 * {@code checkEvery}; a processing-time timeout, unlike an event-time one, never makes
 * Spark drop late rows, which the job quarantines itself. A replayed batch runs with the
 * same batch time and watermark (Spark's offset log), so it marks the same rows.
 *
 * <p>A batch costs one state-store get per id it holds, plus Spark's scan of the whole
 * state for timed-out keys (flatMapGroupsWithState looks for them in every batch); with
 * the RocksDB provider the state lives on local disk and in the checkpoint. The number
 * of state partitions is the query's {@code spark.sql.shuffle.partitions} when its
 * checkpoint was created, fixed from then on.
 */
public final class FirstSeen {
  private FirstSeen() {}

  public static Dataset<Row> mark(
      Dataset<Row> rows, String idColumn, String timeColumn, String checkEvery) {
    StructType in = rows.schema();
    StructType out = in.add("first_seen", DataTypes.BooleanType, true);
    int id = in.fieldIndex(idColumn);
    int time = in.fieldIndex(timeColumn);
    int partition = in.fieldIndex("partition");
    int offset = in.fieldIndex("offset");
    int width = in.size();
    // Rejected rows (null id) get a key of their own position: a group of one, no state.
    MapFunction<Row, String> key =
        r -> r.isNullAt(id)
            ? "\u0000" + r.get(partition) + ":" + r.get(offset)
            : "=" + r.getString(id);
    FlatMapGroupsWithStateFunction<String, Row, Long, Row> mark =
        (String k, Iterator<Row> group, GroupState<Long> state) -> {
          if (state.hasTimedOut()) {
            if (state.get() < state.getCurrentWatermarkMs()) {
              state.remove();
            } else {
              state.setTimeoutDuration(checkEvery);
            }
            return Collections.emptyIterator();
          }
          List<Row> found = new ArrayList<>();
          group.forEachRemaining(found::add);
          found.sort((a, b) -> byPosition(a, b, partition, offset));
          boolean valid = k.startsWith("=");
          boolean seen = state.exists();
          List<Row> marked = new ArrayList<>(found.size());
          for (int i = 0; i < found.size(); i++) {
            Object[] values = new Object[width + 1];
            Row r = found.get(i);
            for (int c = 0; c < width; c++) {
              values[c] = r.get(c);
            }
            values[width] = valid ? Boolean.valueOf(!seen && i == 0) : null;
            marked.add(RowFactory.create(values));
          }
          if (valid) {
            if (!seen) {
              Row first = found.get(0);
              state.update(first.isNullAt(time) ? Long.MAX_VALUE : epochMillis(first.get(time)));
            }
            // Spark clears a key's processing-time timeout whenever the key has data: set it
            // again, or an id seen twice would never be checked, nor forgotten.
            state.setTimeoutDuration(checkEvery);
          }
          return marked.iterator();
        };
    return rows.groupByKey(key, Encoders.STRING())
        .flatMapGroupsWithState(
            mark,
            OutputMode.Append(),
            Encoders.LONG(),
            Encoders.row(out),
            GroupStateTimeout.ProcessingTimeTimeout());
  }

  private static long epochMillis(Object t) {
    return t instanceof Timestamp ? ((Timestamp) t).getTime() : ((Instant) t).toEpochMilli();
  }

  private static int byPosition(Row a, Row b, int partition, int offset) {
    int p = Integer.compare(position(a, partition), position(b, partition));
    if (p != 0) {
      return p;
    }
    long x = a.isNullAt(offset) ? -1L : a.getLong(offset);
    long y = b.isNullAt(offset) ? -1L : b.getLong(offset);
    return Long.compare(x, y);
  }

  private static int position(Row r, int partition) {
    return r.isNullAt(partition) ? -1 : r.getInt(partition);
  }
}
